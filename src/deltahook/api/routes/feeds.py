"""Feeds: POST a feed of one entity kind (streamed into the pipeline), GET the job it made."""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

import anyio.to_thread
from fastapi import APIRouter, HTTPException, Query, Request, Response
from pydantic import WithJsonSchema
from sqlalchemy.exc import SQLAlchemyError

from deltahook import job_events
from deltahook.api.deps import EngineDep, uncompressed_only, utf8_only
from deltahook.api.errors import COMMON, responses
from deltahook.api.models import JobRecord, JobResult
from deltahook.api.streaming import with_body
from deltahook.engine import Engine
from deltahook.feeds.limits import MAX_REMOVE_PATTERN
from deltahook.results import Mode
from deltahook.store import jobs
from deltahook.store.db import reading

router = APIRouter(prefix="/v1", tags=["feeds"])
# Rejects an error answer carries with its job (GET /v1/jobs/{id} has them all).
JOB_REJECTS_IN_ERRORS = 100

FeedFormat = Literal["ndjson", "json", "csv"]
_MEDIA: dict[str, FeedFormat] = {
    "text/csv": "csv",
    "application/x-ndjson": "ndjson",
    "application/ndjson": "ndjson",
    "application/jsonl": "ndjson",
    "application/json": "json",
}
FEED_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "The feed: NDJSON (one record per line), a JSON array of records, or "
        "CSV with a header (kinds without nested tables; cells typed by the schema).",
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            "application/x-ndjson": {"schema": {"type": "string"}},
            "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
        },
    }
}
ModeQuery = Annotated[Mode, Query(description="upsert, merge or full (see the README).")]
MaxRemoveQuery = Annotated[
    Annotated[
        str, WithJsonSchema({"type": "string", "maxLength": 16, "pattern": MAX_REMOVE_PATTERN})
    ]
    | None,
    Query(
        max_length=16,
        description="Full feeds: refuse (409, nothing removed) a feed that would deactivate or "
        "delete more of its scope than this count (500) or percentage (10%; at least one "
        "entity unless the feed is empty; 10% or 5: at least 5). Default: the kind's "
        "max_remove in the config, else 10%.",
    ),
]
BaselineQuery = Annotated[
    bool,
    Query(
        description="Store the snapshots and rule state as an ingest would, and decide and "
        "queue no notification (seeding a new environment or kind, re-seeding after a restore)."
    ),
]
FormatQuery = Annotated[
    FeedFormat | None, Query(alias="format", description="Default: from the Content-Type.")
]


def feed_format(request: Request, fmt: FeedFormat | None) -> FeedFormat:
    """The format asked for, else the one the Content-Type names (no Content-Type: NDJSON);
    a charset other than UTF-8 is refused (feeds are read as UTF-8), and so is a compressed
    body (feeds are read as sent)."""
    content_type = request.headers.get("content-type", "")
    utf8_only(content_type, "feeds", "the feed")
    uncompressed_only(request.headers.get("content-encoding", ""), "feeds", "the feed")
    if fmt is not None:
        return fmt
    media = content_type.split(";", 1)[0].strip().lower()
    if not media:
        return "ndjson"
    if media not in _MEDIA:
        raise HTTPException(
            415,
            f"a feed is NDJSON (application/x-ndjson), a JSON array or CSV (text/csv), "
            f"not {media!r}",
        )
    return _MEDIA[media]


def known_kind(engine: Engine, kind: str) -> None:
    if kind not in engine.catalog:
        known = ", ".join(sorted(k.name for k in engine.catalog))
        raise HTTPException(404, f"unknown entity kind {kind!r} (known kinds: {known})")


@router.post(
    "/feeds/{kind}",
    status_code=201,
    responses=responses(*COMMON, 400, 404, 409, 415, 422),
    openapi_extra=FEED_BODY,
    summary="Ingest a feed of one entity kind",
)
async def post_feed(
    kind: str,
    request: Request,
    response: Response,
    engine: EngineDep,
    mode: ModeQuery = "upsert",
    fmt: FormatQuery = None,
    max_remove: MaxRemoveQuery = None,
    baseline: BaselineQuery = False,
) -> JobResult:
    """The body is streamed into the pipeline as it arrives; the answer is the job's result.

    Bad records are rejected by line and the rest go through (``status`` says so). A full feed
    over its ``max_remove`` answers 409 and removes nothing; its job is failed.
    """
    known_kind(engine, kind)
    feed = feed_format(request, fmt)
    started = time.perf_counter()
    job_id = engine.new_id()
    try:
        result = await with_body(
            request,
            lambda body: engine.ingest(
                kind,
                body,
                mode=mode,
                fmt=feed,
                job_id=job_id,
                max_remove=max_remove,
                baseline=baseline,
            ),
        )
    except Exception:
        # The body stopped (too large, stalled, cut) or the store failed after some batches
        # were applied: the error answer names the job and what it applied.
        request.state.job = await anyio.to_thread.run_sync(_stored_job, engine, job_id)
        raise
    response.headers["Location"] = f"/v1/jobs/{result.job_id}"
    return JobResult.of(result, elapsed=time.perf_counter() - started)


def _stored_job(engine: Engine, job_id: str) -> JobRecord | None:
    """The job as stored (None when it never started, or the store cannot say)."""
    try:
        with reading(engine.db) as conn:
            found = jobs.find(conn, job_id, rejects_limit=JOB_REJECTS_IN_ERRORS)
    except SQLAlchemyError:
        return None
    return None if found is None else JobRecord.model_validate(found)


@router.get("/jobs/{job_id}", responses=responses(*COMMON, 404, 422), summary="An ingest job")
def get_job(
    job_id: str,
    engine: EngineDep,
    rejects_limit: Annotated[int, Query(ge=0, le=10_000)] = 1000,
) -> JobRecord:
    """A job's status, counts and (the first ``rejects_limit``) rejected records. A running job
    whose process is gone (or whose lease ran out) is found abandoned, as ``deltahook status``
    finds it."""
    _, found = job_events.fresh(
        engine.db,
        lambda conn: jobs.find(conn, job_id, rejects_limit=rejects_limit),
        settings=engine.settings,
        events=engine.events,
        now=engine.clock(),
    )
    if found is None:
        raise HTTPException(404, f"no ingest job with id {job_id!r}")
    return JobRecord.model_validate(found)
