"""Claiming due deliveries and recording attempts: the dispatcher's SQL, one dialect-neutral path.

A claim is a lease: the claimed row gets ``leased_by``, ``lease_until`` and, the trick that keeps
the queue from sticking, ``next_attempt_at = lease_until``. A dispatcher that finishes the
attempt overwrites all three; one that dies leaves the row due again the moment its lease ends,
so the ordinary claim query picks it up with no sweeper. Leases are longer than the attempts
they cover (see ``lease_for``), so a live, slow attempt is never claimed twice.

On PostgreSQL the claim locks rows with ``FOR UPDATE SKIP LOCKED`` so dispatchers never wait
for one another; SQLite runs every transaction as ``BEGIN IMMEDIATE`` (one writer at a time)
and ignores the clause.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update

from deltahook.store.tables import attempts, deliveries, notifications

QUEUED = ("pending", "retrying")
TERMINAL = ("delivered", "dead")


def dead(reason: str, *, now: datetime) -> dict[str, Any]:
    """The column values that end a queued delivery as dead, with ``reason`` as its error."""
    return {
        "status": "dead",
        "next_attempt_at": None,
        "lease_until": None,
        "leased_by": None,
        "updated_at": now,
        "last_error": reason,
    }


STATUSES = ("pending", "retrying", "delivered", "dead")


@dataclass(frozen=True, slots=True, kw_only=True)
class Claimed:
    """A delivery this dispatcher holds the lease of, with what it needs to send it."""

    id: str
    notification_id: str
    subscription: str
    event_type: str
    attempt: int
    """This attempt's number over the delivery's life (1-based); it numbers the log."""
    step: int
    """This attempt's number since the last resend; it drives the retry schedule."""
    body: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class Finished:
    """The recorded end of one attempt: the log row and the delivery's next state."""

    delivery_id: str
    attempt: int
    started_at: datetime
    duration_ms: float
    status_code: int | None
    excerpt: str | None
    error: str | None
    status: str
    next_attempt_at: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Want:
    """How many deliveries of one subscription to claim, and for how long."""

    count: int
    lease: timedelta
    retries: int
    """Retries the subscription's schedule allows; a lost last attempt makes the delivery dead."""


def lease_for(timeout: float, *, margin: timedelta) -> timedelta:
    """A lease that covers a claimed delivery's wait for a slot and its attempt, with margin.

    A dispatcher claims at most twice a subscription's concurrency, so a claimed delivery waits
    at most about one attempt's time before its own starts: three timeouts cover both.
    """
    return timedelta(seconds=3 * timeout) + margin


def claim(
    conn: Connection, wants: Mapping[str, Want], *, worker: str, now: datetime
) -> list[Claimed]:
    """Lease up to ``want.count`` due deliveries of each subscription, oldest due first."""
    claimed: list[Claimed] = []
    for name, want in wants.items():
        if want.count > 0:
            claimed.extend(_claim_one(conn, name, want, worker=worker, now=now))
    return claimed


def _claim_one(
    conn: Connection, name: str, want: Want, *, worker: str, now: datetime
) -> list[Claimed]:
    d = deliveries.c
    query = (
        select(
            d.id,
            d.notification_id,
            d.event_type,
            d.attempts,
            d.retry_base,
            d.leased_by,
            d.lease_until,
            notifications.c.payload,
        )
        .join(notifications, notifications.c.id == d.notification_id)
        .where(d.subscription == name, d.next_attempt_at <= now, d.status.in_(QUEUED))
        .order_by(d.next_attempt_at)
        .limit(want.count)
        .with_for_update(skip_locked=True, of=deliveries)
    )
    rows = conn.execute(query).all()
    lost = [row for row in rows if row.leased_by is not None]
    if lost:
        _record_lost(conn, lost, retries=want.retries, now=now)
    take = [
        row
        for row in rows
        if row.leased_by is None or row.attempts - row.retry_base <= want.retries
    ]
    if not take:
        return []
    lease_until = now + want.lease
    conn.execute(
        update(deliveries)
        .where(d.id.in_([row.id for row in take]))
        .values(
            attempts=d.attempts + 1,
            leased_by=worker,
            lease_until=lease_until,
            next_attempt_at=lease_until,
            updated_at=now,
        )
    )
    return [
        Claimed(
            id=row.id,
            notification_id=row.notification_id,
            subscription=name,
            event_type=row.event_type,
            attempt=row.attempts + 1,
            step=row.attempts + 1 - row.retry_base,
            body=bytes(row.payload),
        )
        for row in take
    ]


def _record_lost(conn: Connection, rows: Sequence[Any], *, retries: int, now: datetime) -> None:
    """Log the attempts of dispatchers that died mid-request; end deliveries that ran out."""
    conn.execute(
        insert(attempts),
        [
            {
                "delivery_id": row.id,
                "number": row.attempts,
                "started_at": row.lease_until,
                "duration_ms": 0.0,
                "error": f"no result: dispatcher {row.leased_by} stopped before recording one "
                "(its lease expired)",
                "worker": row.leased_by,
            }
            for row in rows
        ],
    )
    exhausted = [row.id for row in rows if row.attempts - row.retry_base > retries]
    if exhausted:
        reason = "the last attempt's dispatcher stopped before recording a result"
        conn.execute(
            update(deliveries).where(deliveries.c.id.in_(exhausted)).values(**dead(reason, now=now))
        )


def finish(conn: Connection, done: Sequence[Finished], *, worker: str, now: datetime) -> None:
    """Record a batch of attempts and move their deliveries on, in two statements."""
    if not done:
        return
    conn.execute(
        insert(attempts),
        [
            {
                "delivery_id": f.delivery_id,
                "number": f.attempt,
                "started_at": f.started_at,
                "duration_ms": f.duration_ms,
                "status_code": f.status_code,
                "response_excerpt": f.excerpt,
                "error": f.error,
                "worker": worker,
            }
            for f in done
        ],
    )
    d = deliveries.c
    # Only while the lease is still ours: after a lost lease another dispatcher owns the row.
    statement = (
        update(deliveries)
        .where(d.id == bindparam("b_id"), d.leased_by == worker, d.attempts == bindparam("b_n"))
        .values(
            status=bindparam("b_status"),
            next_attempt_at=bindparam("b_next"),
            last_status_code=bindparam("b_code"),
            last_error=bindparam("b_error"),
            lease_until=None,
            leased_by=None,
            updated_at=now,
        )
    )
    conn.execute(
        statement,
        [
            {
                "b_id": f.delivery_id,
                "b_n": f.attempt,
                "b_status": f.status,
                "b_next": f.next_attempt_at,
                "b_code": f.status_code,
                "b_error": f.error,
            }
            for f in done
        ],
    )


def release(conn: Connection, claims: Sequence[Claimed], *, worker: str, now: datetime) -> None:
    """Give back claims never attempted (a dispatcher stopping): due now, attempt uncounted."""
    if not claims:
        return
    d = deliveries.c
    conn.execute(
        update(deliveries)
        .where(d.id == bindparam("b_id"), d.leased_by == worker, d.attempts == bindparam("b_n"))
        .values(
            attempts=d.attempts - 1,
            leased_by=None,
            lease_until=None,
            next_attempt_at=now,
            updated_at=now,
        ),
        [{"b_id": c.id, "b_n": c.attempt} for c in claims],
    )
