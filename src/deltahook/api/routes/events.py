"""Custom events: POST an event of a type; validated, recorded and delivered like a notification."""

from __future__ import annotations

from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Body, Header, HTTPException, Response

from deltahook.api.deps import EngineDep, JSONBodyRoute
from deltahook.api.errors import COMMON, responses
from deltahook.api.models import EmittedOut, NotificationOut
from deltahook.api.routes.catalog import events_of
from deltahook.catalog.events import unknown_type_message
from deltahook.rules.direct import IDEMPOTENCY_KEY_MAX

router = APIRouter(prefix="/v1", tags=["events"], route_class=JSONBodyRoute)

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=IDEMPOTENCY_KEY_MAX,
        description="Send the same key on a retry: the event is recorded once.",
    ),
]


@router.post(
    "/events/{event_type}",
    status_code=201,
    responses={
        200: {"model": EmittedOut, "description": "A replay: the key's event, as first recorded."},
        **responses(*COMMON, 400, 404, 409, 415, 422),
    },
    summary="Post a custom event",
)
async def post_event(
    event_type: str,
    payload: Annotated[dict[str, Any], Body(description="The event's payload (a JSON object).")],
    response: Response,
    engine: EngineDep,
    idempotency_key: IdempotencyKey = None,
) -> EmittedOut:
    """Validate the payload against the type's schema, record it and queue its deliveries.

    ``ClientId`` and ``ApplicationId`` default to the project constants. A retry with the same
    ``Idempotency-Key`` answers 200 with the stored event; a key reused for a different event
    answers 409.
    """
    events = events_of(engine)
    if event_type not in events:
        raise HTTPException(404, unknown_type_message(event_type, events.names()))
    emitted = await anyio.to_thread.run_sync(
        lambda: engine.emit(event_type, payload, idempotency_key=idempotency_key)
    )
    if emitted.replayed:
        response.status_code = 200
        response.headers["Idempotent-Replayed"] = "true"
    return EmittedOut(
        **NotificationOut.of(emitted.event).model_dump(),
        idempotency_key=emitted.event.idempotency_key,
        deliveries=emitted.deliveries,
        replayed=emitted.replayed,
    )
