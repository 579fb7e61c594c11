"""One stored entity read back: its snapshot, version, times, last job, recent notifications.

What ``deltahook show``, ``GET /v1/entities/{kind}/{key}`` and ``Engine.snapshot`` answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, select

from deltahook.store import jobs
from deltahook.store.tables import deliveries, entities, notifications

RECENT_NOTIFICATIONS = 20


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredEntity:
    """An entity as the store holds it, with the job that last wrote it and what it notified."""

    kind: str
    key: str
    parent_key: str | None
    scope: str
    version: int
    created_at: datetime
    updated_at: datetime
    job_id: str | None
    body: dict[str, Any]
    last_job: dict[str, Any] | None
    notifications: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "key": self.key,
            "parent_key": self.parent_key,
            "scope": self.scope,
            "version": self.version,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "last_job": self.last_job,
            "snapshot": self.body,
            "notifications": self.notifications,
        }


def find(
    conn: Connection, kind: str, key: str, *, recent: int = RECENT_NOTIFICATIONS
) -> StoredEntity | None:
    """The stored entity ``kind``/``key`` (None when there is none), with its ``recent`` newest
    notifications and their deliveries."""
    e = entities.c
    row = conn.execute(select(entities).where(e.kind == kind, e.key == key)).first()
    if row is None:
        return None
    job = jobs.find(conn, row.job_id, rejects_limit=0) if row.job_id else None
    if job is not None:
        del job["rejects"]
    return StoredEntity(
        kind=kind,
        key=key,
        parent_key=row.parent_key,
        scope=row.scope,
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
        job_id=row.job_id,
        body=orjson.loads(row.body),
        last_job=job,
        notifications=_notifications(conn, kind, key, recent),
    )


def _notifications(conn: Connection, kind: str, key: str, limit: int) -> list[dict[str, Any]]:
    """The newest notifications about the entity, each with its deliveries."""
    n = notifications.c
    rows = conn.execute(
        select(n.id, n.type, n.job_id, n.created_at, n.payload)
        .where(n.entity_kind == kind, n.entity_key == key)
        .order_by(n.created_at.desc(), n.id)
        .limit(limit)
    ).all()
    sent: dict[str, list[dict[str, Any]]] = {row.id: [] for row in rows}
    if sent:
        d = deliveries.c
        query = select(d.notification_id, d.subscription, d.status, d.attempts).where(
            d.notification_id.in_(list(sent))
        )
        for found in conn.execute(query.order_by(d.subscription)):
            sent[found.notification_id].append(
                {
                    "subscription": found.subscription,
                    "status": found.status,
                    "attempts": found.attempts,
                }
            )
    return [
        {
            "id": row.id,
            "type": row.type,
            "job_id": row.job_id,
            "created_at": row.created_at,
            "payload": orjson.loads(row.payload),
            "deliveries": sent[row.id],
        }
        for row in rows
    ]
