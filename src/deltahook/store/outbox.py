"""The transactional outbox: notifications and their deliveries, written with the snapshots."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import orjson
from sqlalchemy import Connection, func, select

from deltahook.notifications import Notification, stable_id
from deltahook.store.bulk import insert_many
from deltahook.store.tables import deliveries, notifications, subscriptions

CHANNEL = "deltahook_deliveries"
"""PostgreSQL channel notified when deliveries are queued, so idle dispatchers wake at once."""


def record(conn: Connection, items: Sequence[Notification], *, now: datetime) -> int:
    """Store notifications and one pending delivery per enabled subscription that wants each.

    Returns the number of deliveries queued. Runs inside the caller's transaction.
    """
    if not items:
        return 0
    insert_many(conn, notifications, [_notification_row(n) for n in items])
    wanted = _subscribers(conn)
    rows = [
        {
            "id": stable_id("delivery", n.id, name),
            "notification_id": n.id,
            "subscription": name,
            "event_type": n.type,
            "status": "pending",
            "attempts": 0,
            "retry_base": 0,
            "next_attempt_at": now,
            "created_at": now,
            "updated_at": now,
        }
        for n in items
        for name, types in wanted
        if n.type in types or "*" in types
    ]
    if rows:
        insert_many(conn, deliveries, rows)
        announce(conn)
    return len(rows)


def announce(conn: Connection) -> None:
    """Tell listening dispatchers that deliveries are due (PostgreSQL sends it on commit)."""
    if conn.dialect.name == "postgresql":
        conn.execute(select(func.pg_notify(CHANNEL, "")))


def find(conn: Connection, *, idempotency_key: str) -> Notification | None:
    """The stored notification (or event) recorded with ``idempotency_key``, if any."""
    row = conn.execute(
        select(notifications).where(notifications.c.idempotency_key == idempotency_key)
    ).first()
    if row is None:
        return None
    return Notification(
        id=row.id,
        type=row.type,
        family=row.family,
        payload=orjson.loads(row.payload),
        created_at=row.created_at,
        entity_kind=row.entity_kind,
        entity_key=row.entity_key,
        job_id=row.job_id,
        idempotency_key=row.idempotency_key,
        explanation=orjson.loads(row.explanation) if row.explanation else {},
    )


def _subscribers(conn: Connection) -> list[tuple[str, frozenset[str]]]:
    query = select(subscriptions.c.name, subscriptions.c.event_types).where(
        subscriptions.c.enabled.is_(True)
    )
    return [(name, frozenset(orjson.loads(types))) for name, types in conn.execute(query)]


def _notification_row(n: Notification) -> dict[str, object]:
    return {
        "id": n.id,
        "type": n.type,
        "family": n.family,
        "entity_kind": n.entity_kind,
        "entity_key": n.entity_key,
        "job_id": n.job_id,
        "idempotency_key": n.idempotency_key,
        "created_at": n.created_at,
        "payload": orjson.dumps(n.payload),
        "explanation": orjson.dumps(n.explanation),
    }
