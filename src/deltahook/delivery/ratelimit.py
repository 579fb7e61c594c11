"""Rate limits: a token bucket per subscription, kept in the store so every dispatcher shares
it; ``rate`` requests a second on average, ``burst`` at once.

The claim transaction (``queue.claim``) reads the bucket (locking the subscription's row on
PostgreSQL, so two dispatchers never spend the same tokens), claims no more deliveries than it
holds whole tokens, and writes back what is left. Time is the dispatcher's clock, so tests
drive it without sleeping. An empty bucket (``rate_tokens`` NULL) starts full.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, select, update

from deltahook.store.tables import subscriptions


def refill(
    tokens: float | None, at: datetime | None, *, now: datetime, rate: float, burst: int
) -> float:
    """The tokens a bucket holds at ``now``: ``tokens`` at ``at``, plus ``rate`` a second since,
    at most ``burst``; a bucket never used is full."""
    if tokens is None or at is None:
        return float(burst)
    elapsed = max((now - at).total_seconds(), 0.0)
    return min(float(burst), tokens + elapsed * rate)


def available(conn: Connection, name: str, *, rate: float, burst: int, now: datetime) -> float:
    """The tokens ``name``'s bucket holds now (its row locked until the transaction ends, ``FOR
    NO KEY UPDATE``: the ingest batches queueing for it go on, see ``subscriptions.wanted``)."""
    s = subscriptions.c
    locked = select(s.rate_tokens, s.rate_at).where(s.name == name).with_for_update(key_share=True)
    row = conn.execute(locked).first()
    if row is None:
        return 0.0
    return refill(row.rate_tokens, row.rate_at, now=now, rate=rate, burst=burst)


def keep(conn: Connection, name: str, tokens: float, *, now: datetime) -> None:
    """Record that ``name``'s bucket holds ``tokens`` at ``now``."""
    s = subscriptions.c
    conn.execute(
        update(subscriptions).where(s.name == name).values(rate_tokens=tokens, rate_at=now)
    )
