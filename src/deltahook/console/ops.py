"""The Subscriptions page (queue figures as ``deltahook status``, recover) and the Jobs pages."""

from __future__ import annotations

import anyio.to_thread
from fastapi import APIRouter, HTTPException, Request, Response

from deltahook import job_events
from deltahook.api.deps import EngineDep
from deltahook.console.render import back, checked_form, deliveries, page, redirect
from deltahook.delivery import log
from deltahook.delivery import subscriptions as subs
from deltahook.errors import DeliveryError, UnknownSubscriptionError
from deltahook.store import jobs
from deltahook.store.db import reading

router = APIRouter(prefix="/admin", include_in_schema=False)
JOBS_SHOWN = 50


@router.get("/subscriptions")
def subscriptions(request: Request, engine: EngineDep) -> Response:
    """Every subscription with its queue: pending, retrying, dead, in flight, how late."""
    with reading(engine.db) as conn:
        figures = {row["subscription"]: row for row in log.status(conn, now=engine.clock())}
        stored = subs.load(conn)
    rows = [s.summary() | {"figures": figures.get(s.name, {})} for s in stored]
    return page(request, "subscriptions.html", rows=rows)


@router.post("/subscriptions/{name}/recover")
async def recover(request: Request, name: str, engine: EngineDep) -> Response:
    """Queue again every failed or dead delivery of the subscription queued since a time."""
    fields = await checked_form(request)

    def run() -> int:
        since = log.parse_when(fields.get("since", ""), now=engine.clock())
        with engine.db.begin() as conn:
            return log.recover(conn, name, since=since, now=engine.clock())

    try:
        queued = await anyio.to_thread.run_sync(run)
    except UnknownSubscriptionError:
        raise
    except DeliveryError as exc:  # switched off (or a time the form never sends): one line
        notice = f"{name}: nothing queued again: {exc}"
    else:
        notice = f"{name}: queued {deliveries(queued)} again"
    return redirect(request, back(fields, "/admin/subscriptions"), notice=notice)


@router.get("/jobs")
def recent_jobs(request: Request, engine: EngineDep) -> Response:
    """The latest ingest jobs with their counts (a running one whose process is gone: abandoned,
    as ``deltahook status`` finds it)."""
    _, found = job_events.fresh(
        engine.db,
        lambda conn: jobs.recent(conn, limit=JOBS_SHOWN),
        settings=engine.settings,
        events=engine.events,
        now=engine.clock(),
    )
    return page(request, "jobs.html", jobs=found)


@router.get("/jobs/{job_id}")
def one_job(request: Request, job_id: str, engine: EngineDep) -> Response:
    """One job: its counts and rejected records by line and reason."""
    _, found = job_events.fresh(
        engine.db,
        lambda conn: jobs.find(conn, job_id),
        settings=engine.settings,
        events=engine.events,
        now=engine.clock(),
    )
    if found is None:
        raise HTTPException(404, f"no ingest job with id {job_id!r}")
    return page(request, "job.html", job=found)
