"""Dispatcher heartbeats: each running dispatcher touches its row every few seconds.

``liveness`` answers "is anything delivering?" for ``/healthz``, ``/metrics`` and the
console: a dispatcher counts as alive while its last beat is younger than ``STALE_AFTER``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, delete, func, insert, select, update

from deltahook.store.tables import dispatchers

STALE_AFTER = timedelta(seconds=30)
"""Several missed beats (a dispatcher beats every 5 s by default): it is gone or stuck."""
FORGET_AFTER = timedelta(days=1)


@dataclass(frozen=True, slots=True, kw_only=True)
class Liveness:
    """How many dispatchers beat lately, and when the newest beat was (None: never)."""

    alive: int
    last_seen: datetime | None
    age_s: float | None

    @property
    def label(self) -> str:
        if self.alive:
            return f"Dispatcher running ({self.alive})" if self.alive > 1 else "Dispatcher running"
        return "No dispatcher"

    @property
    def detail(self) -> str:
        if self.age_s is None:
            return "no dispatcher has been seen: start `deltahook deliver` or `deltahook serve`"
        return f"last heartbeat {self.age_s:.0f} s ago"


def beat(conn: Connection, worker: str, *, now: datetime) -> None:
    """Record that ``worker`` is alive now; forget workers silent for a day."""
    d = dispatchers.c
    touched = conn.execute(update(dispatchers).where(d.worker_id == worker).values(seen_at=now))
    if not touched.rowcount:
        conn.execute(insert(dispatchers).values(worker_id=worker, started_at=now, seen_at=now))
    conn.execute(delete(dispatchers).where(d.seen_at < now - FORGET_AFTER))


def leave(conn: Connection, worker: str) -> None:
    """A dispatcher that stops cleanly removes its row."""
    conn.execute(delete(dispatchers).where(dispatchers.c.worker_id == worker))


def liveness(conn: Connection, *, now: datetime) -> Liveness:
    d = dispatchers.c
    alive = conn.execute(
        select(func.count()).select_from(dispatchers).where(d.seen_at >= now - STALE_AFTER)
    ).scalar_one()
    last = conn.execute(select(d.seen_at).order_by(d.seen_at.desc()).limit(1)).scalar()
    age = None if last is None else max(0.0, (now - last).total_seconds())
    return Liveness(alive=int(alive), last_seen=last, age_s=age)
