"""The delivery log: list with filters, paged; resend one delivery (or all of a notification);
queue again every failed delivery matching filters."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from pydantic import WithJsonSchema

from deltahook.api.delivery_models import (
    DeliveryOut,
    DeliveryPage,
    ResendOut,
    RetryFailedIn,
    RetryFailedOut,
)
from deltahook.api.deps import EngineDep, JSONBodyRoute
from deltahook.api.errors import COMMON, responses
from deltahook.api.models import UtcTime
from deltahook.api.routes.catalog import events_of
from deltahook.catalog.events import unknown_type_message
from deltahook.delivery import log, pages
from deltahook.delivery.pages import CURSOR_FORMAT, CURSOR_MAX, CURSOR_PATTERN
from deltahook.delivery.status import Resent, StatusFilter
from deltahook.store.db import reading

router = APIRouter(prefix="/v1", tags=["deliveries"], route_class=JSONBodyRoute)
UNTIL = "Queued before (at or before since: an empty window, no deliveries)."
# The pattern in the text's own schema (not beside anyOf, where generators do not look).
Cursor = Annotated[
    str, WithJsonSchema({"type": "string", "maxLength": CURSOR_MAX, "pattern": CURSOR_PATTERN})
]
CursorQuery = Query(
    max_length=CURSOR_MAX,
    description=f"Where the page starts: the last page's next_cursor ({CURSOR_FORMAT}).",
)


@router.get("/deliveries", responses=responses(*COMMON, 400, 422), summary="The delivery log")
def list_deliveries(
    engine: EngineDep,
    since: Annotated[UtcTime | None, Query(description="Queued at or after.")] = None,
    until: Annotated[UtcTime | None, Query(description=UNTIL)] = None,
    status: Annotated[StatusFilter | None, Query(description="failed = retrying or dead.")] = None,
    subscription: str | None = None,
    event_type: Annotated[str | None, Query(alias="type")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[Cursor | None, CursorQuery] = None,
    payload: bool = False,
    attempts: bool = False,
) -> DeliveryPage:
    """Deliveries, newest first; ``next_cursor`` fetches the next page."""
    where = log.LogFilter(
        subscription=subscription,
        event_type=event_type,
        since=since,
        until=until,
        status=status,
        limit=limit,
    )
    try:
        with reading(engine.db) as conn:
            found = pages.page(
                conn,
                where,
                now=engine.clock(),
                cursor=cursor,
                payload=payload,
                with_attempts=attempts,
            )
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    return DeliveryPage(
        items=[DeliveryOut.model_validate(entry) for entry in found.items],
        next_cursor=found.next_cursor,
    )


@router.post(
    "/deliveries/{delivery_id}/resend",
    responses=responses(*COMMON, 404, 409),
    summary="Resend a delivery",
)
def resend(delivery_id: str, engine: EngineDep) -> ResendOut:
    """Queue it again now, with the same message id (a notification id: all its deliveries)."""
    with engine.db.begin() as conn:
        outcome = log.resend(conn, [delivery_id], now=engine.clock())
    if outcome.get(delivery_id) == Resent.UNKNOWN:
        raise HTTPException(404, f"no delivery or notification with id {delivery_id!r}")
    if Resent.QUEUED not in outcome.values():
        reasons = ", ".join(sorted(set(outcome.values())))
        raise HTTPException(409, f"nothing was queued again: {reasons}")
    return ResendOut(outcome=outcome)


@router.post(
    "/deliveries/retry-failed",
    responses=responses(*COMMON, 400, 404, 409, 415, 422),
    summary="Queue again every failed delivery matching filters",
)
def retry_failed(body: RetryFailedIn, engine: EngineDep) -> RetryFailedOut:
    """The console Log tab's "Retry all failed": up to ``limit`` failed (retrying or dead)
    deliveries matching the filters, newest first, are queued again, due now with the same
    message ids and their retry schedule restarted; those of a subscription that is off or
    deleted (named in ``left_alone``), or that a dispatcher is attempting, are left. ``more``:
    the limit was reached, call again."""
    events = events_of(engine)
    if body.event_type is not None and events.get(body.event_type) is None:
        raise HTTPException(404, unknown_type_message(body.event_type, events.names()))
    where = log.LogFilter(
        subscription=body.subscription,
        event_type=body.event_type,
        since=body.since,
        until=body.until,
        status=body.status,
        limit=body.limit,
    )
    with engine.db.begin() as conn:
        if body.subscription is not None:
            log.require_on(conn, body.subscription)
        queued = log.retry_failed(conn, where, now=engine.clock(), limit=body.limit)
        left_alone = list(log.left_off(conn, where))
    return RetryFailedOut(queued=queued, more=queued == body.limit, left_alone=left_alone)
