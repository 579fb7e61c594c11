"""Events posted directly (``Engine.emit``, ``POST /v1/events``, ``deltahook emit``): validated,
recorded with their deliveries, and recorded once per idempotency key."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection
from sqlalchemy import Engine as SqlEngine
from sqlalchemy.exc import IntegrityError

from deltahook.catalog.events import EventCatalog
from deltahook.errors import IdempotencyConflictError
from deltahook.notifications import Notification
from deltahook.rules.direct import direct_event
from deltahook.store import outbox


@dataclass(frozen=True, slots=True, kw_only=True)
class Emitted:
    """An event recorded by ``emit``: its deliveries, and whether it was there before."""

    event: Notification
    deliveries: int
    replayed: bool = False


def emit(
    db: SqlEngine,
    events: EventCatalog,
    event_type: str,
    payload: Mapping[str, Any],
    *,
    constants: Mapping[str, Any],
    now: datetime,
    idempotency_key: str | None = None,
) -> Emitted:
    """Validate an event posted directly and record it with its deliveries.

    Raises ``EventError`` when it is invalid. Recording the same ``idempotency_key`` twice
    stores it once: the second call returns the stored event, ``replayed`` and no
    deliveries; a key already used for another type or payload raises
    ``IdempotencyConflictError``.
    """
    event = direct_event(
        events,
        event_type,
        payload,
        constants=constants,
        now=now,
        idempotency_key=idempotency_key,
    )
    try:
        return _record(db, event, now=now)
    except IntegrityError:
        if idempotency_key is None:
            raise
        return _record(db, event, now=now)  # a concurrent post with the key won


def _record(db: SqlEngine, event: Notification, *, now: datetime) -> Emitted:
    with db.begin() as conn:
        stored = _stored(conn, event)
        if stored is not None:
            return Emitted(event=stored, deliveries=0, replayed=True)
        return Emitted(event=event, deliveries=outbox.record(conn, [event], now=now))


def _stored(conn: Connection, event: Notification) -> Notification | None:
    """The event already stored under ``event``'s idempotency key (or id), if any."""
    if event.idempotency_key is None:
        return None
    stored = outbox.find(conn, idempotency_key=event.idempotency_key)
    if stored is None:
        return None
    if stored.type != event.type or dict(stored.payload) != dict(event.payload):
        raise IdempotencyConflictError(
            f"the idempotency key {event.idempotency_key!r} was used for another event "
            f"({stored.type} {stored.id}); send a new key for a new event"
        )
    return stored
