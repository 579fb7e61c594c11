"""Figures over the delivery log for overviews: deliveries by event type and status."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import Connection, func, select

from deltahook.store.tables import deliveries


def by_type(
    conn: Connection, types: Collection[str], *, since: datetime
) -> dict[str, dict[str, int]]:
    """Per event type of ``types``, how many deliveries queued since ``since`` are in each
    status. Each type is one range of the (event_type, created_at) index, so the cost follows
    the recent deliveries, not the size of the log."""
    d = deliveries.c
    found: dict[str, dict[str, int]] = {}
    if not types:
        return found
    query = (
        select(d.event_type, d.status, func.count())
        .where(d.event_type.in_(sorted(types)), d.created_at >= since)
        .group_by(d.event_type, d.status)
    )
    for event_type, status, count in conn.execute(query):
        found.setdefault(event_type, {})[status] = int(count)
    return found
