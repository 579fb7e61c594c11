"""The transactional outbox: notifications, written with the snapshots; ``queue`` adds their
deliveries in the same transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import partial

import orjson
from sqlalchemy import Connection, select

from deltahook import counting
from deltahook.changes.canonical import kept
from deltahook.delivery import queue
from deltahook.explanations import stored, unpack
from deltahook.notifications import Notification
from deltahook.store.bulk import insert_columns
from deltahook.store.tables import notifications


def record(
    conn: Connection,
    items: Sequence[Notification],
    *,
    now: datetime,
    skip: str | None = None,
    lock: bool = True,
) -> int:
    """Store notifications and queue their deliveries (``queue.enqueue``, ``lock`` as there),
    to every subscription that wants them but ``skip``.

    Returns the number of deliveries queued. Runs inside the caller's transaction.
    """
    if not items:
        return 0
    insert_columns(conn, notifications, _notification_columns(items))
    if (metrics := counting.telemetry(conn)) is not None:
        counting.on_commit(conn, partial(metrics.recorded, items))
    return queue.enqueue(conn, items, now=now, skip=skip, lock=lock)


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
        explanation=unpack(row.explanation) if row.explanation else {},
    )


def _notification_columns(items: Sequence[Notification]) -> dict[str, list[object]]:
    """The rows of ``items``, column by column (a first load stores hundreds of thousands)."""

    def dumps(value: object) -> bytes:
        return kept(orjson.dumps(value))  # a batch's worth kept alive: see ``kept``

    return {
        "id": [n.id for n in items],
        "type": [n.type for n in items],
        "family": [n.family for n in items],
        "entity_kind": [n.entity_kind for n in items],
        "entity_key": [n.entity_key for n in items],
        "job_id": [n.job_id for n in items],
        "idempotency_key": [n.idempotency_key for n in items],
        "created_at": [n.created_at for n in items],
        "payload": [dumps(n.payload) for n in items],
        "explanation": [stored(n.explanation) for n in items],
    }
