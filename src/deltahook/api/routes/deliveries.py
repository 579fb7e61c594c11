"""The delivery log: list with filters, paged; resend one delivery (or all of a notification)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from deltahook.api.deps import EngineDep
from deltahook.api.errors import COMMON, responses
from deltahook.api.models import DeliveryOut, DeliveryPage, ResendOut, UtcTime
from deltahook.delivery import log, pages
from deltahook.delivery.status import Resent, StatusFilter

router = APIRouter(prefix="/v1", tags=["deliveries"])


@router.get("/deliveries", responses=responses(*COMMON, 400, 422), summary="The delivery log")
def list_deliveries(
    engine: EngineDep,
    since: Annotated[UtcTime | None, Query(description="Queued at or after.")] = None,
    until: Annotated[UtcTime | None, Query(description="Queued before.")] = None,
    status: Annotated[StatusFilter | None, Query(description="failed = retrying or dead.")] = None,
    subscription: str | None = None,
    event_type: Annotated[str | None, Query(alias="type")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
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
        with engine.db.connect() as conn:
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
