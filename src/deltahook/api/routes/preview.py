"""Preview: what a feed, or one entity's before/after pair, would notify; nothing is written."""

from __future__ import annotations

from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Query, Request

from deltahook.api.deps import EngineDep, JSONBodyRoute
from deltahook.api.errors import COMMON, responses
from deltahook.api.models import PairIn, PreviewResult
from deltahook.api.routes.feeds import (
    FEED_BODY,
    FormatQuery,
    MaxRemoveQuery,
    ModeQuery,
    feed_format,
    known_kind,
)
from deltahook.api.streaming import with_body

router = APIRouter(prefix="/v1", tags=["preview"], route_class=JSONBodyRoute)
ExplainQuery = Annotated[bool, Query(description="Also list the near misses.")]


@router.post(
    "/preview/{kind}",
    responses=responses(*COMMON, 400, 404, 409, 415, 422),
    openapi_extra=FEED_BODY,
    summary="Preview a feed",
)
async def preview_feed(
    kind: str,
    request: Request,
    engine: EngineDep,
    mode: ModeQuery = "upsert",
    fmt: FormatQuery = None,
    explain: ExplainQuery = False,
    max_remove: MaxRemoveQuery = None,
) -> PreviewResult:
    """Every notification the feed would fire against the stored snapshots, and why.

    A full feed over its ``max_remove`` answers 409, as its ingest would.
    """
    known_kind(engine, kind)
    feed = feed_format(request, fmt)
    result = await with_body(
        request,
        lambda body: engine.preview(
            kind, body, mode=mode, fmt=feed, explain=explain, max_remove=max_remove
        ),
    )
    return PreviewResult.of(result)


@router.post(
    "/preview/{kind}/pair",
    responses=responses(*COMMON, 400, 404, 415, 422),
    summary="Preview one entity's change",
)
async def preview_pair(
    kind: str, pair: PairIn, engine: EngineDep, explain: ExplainQuery = False
) -> PreviewResult:
    """What changing one entity from ``before`` to ``after`` would notify, whatever is stored."""
    known_kind(engine, kind)
    result = await anyio.to_thread.run_sync(
        lambda: engine.preview_pair(kind, before=pair.before, after=pair.after, explain=explain)
    )
    return PreviewResult.of(result)
