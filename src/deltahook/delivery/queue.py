"""Every write of a delivery's life, in one module: the only one that writes ``deliveries`` and
``attempts`` (on SQLite, a claim and a finish run ``queuesql``'s written-out statements).

enqueue (one pending delivery per subscription that wants a notification), claim, finish,
release, lost (a dead dispatcher's attempt), requeue (resend, recover), end (a deleted
subscription's queued deliveries) and purge. The statuses are ``status.DeliveryStatus``.

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
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Integer,
    Select,
    String,
    Update,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)

from deltahook.delivery import queuesql
from deltahook.delivery import subscriptions as subs
from deltahook.delivery.status import QUEUED, TERMINAL, DeliveryStatus
from deltahook.notifications import Notification, delivery_id
from deltahook.store import changelog, jobs
from deltahook.store.bulk import insert_columns
from deltahook.store.tables import UTCDateTime, attempts, deliveries, notifications

if TYPE_CHECKING:
    from deltahook.delivery.claims import Claimed, Finished, Want

CHANNEL = "deltahook_deliveries"
"""PostgreSQL channel notified when deliveries are queued, so idle dispatchers wake at once."""


def dead(reason: str, *, now: datetime) -> dict[str, Any]:
    """The column values that end a queued delivery as dead, with ``reason`` as its error."""
    return {
        "status": DeliveryStatus.DEAD,
        "next_attempt_at": None,
        "lease_until": None,
        "leased_by": None,
        "updated_at": now,
        "last_error": reason,
    }


def claim(
    conn: Connection, wants: Mapping[str, Want], *, worker: str, now: datetime
) -> list[Claimed]:
    """Lease up to ``want.count`` due deliveries of each subscription, oldest due first."""
    claimed: list[Claimed] = []
    for name in sorted(wants):  # a rate limit locks its row: in the order ingests lock them
        want = wants[name]
        if want.count > 0:
            claimed.extend(_claim_one(conn, name, want, worker=worker, now=now))
    return claimed


def _claim_one(
    conn: Connection, name: str, want: Want, *, worker: str, now: datetime
) -> list[Claimed]:
    # The dispatcher's side: an ingest, which only enqueues, never imports it.
    from deltahook.delivery import ratelimit, shared_health

    if want.probe and not shared_health.claim_probe(conn, name, hold=want.probe, now=now):
        return []  # another dispatcher probes this cooldown's end
    if want.rate is None:
        return _claim_due(conn, name, want.count, want, worker=worker, now=now)
    tokens = ratelimit.available(conn, name, rate=want.rate, burst=want.burst, now=now)
    if int(tokens) <= 0:
        return []
    claimed = _claim_due(conn, name, min(want.count, int(tokens)), want, worker=worker, now=now)
    ratelimit.keep(conn, name, tokens - len(claimed), now=now)
    return claimed


def _claim_due(
    conn: Connection, name: str, count: int, want: Want, *, worker: str, now: datetime
) -> list[Claimed]:
    from deltahook.delivery.claims import Claimed

    written_out = conn.dialect.name in queuesql.WRITTEN_OUT
    due, lease = _claim_statements()
    if written_out:
        rows: Sequence[Any] = queuesql.due(conn, name, now=now, count=count)
    else:
        rows = conn.execute(due, {"c_name": name, "c_now": now, "c_count": count}).all()
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
    ids = [row.id for row in take]
    if written_out:
        queuesql.lease(conn, ids, worker=worker, until=lease_until, now=now)
    else:
        conn.execute(
            lease, {"c_ids": ids, "c_worker": worker, "c_until": lease_until, "c_now": now}
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
            detected_at=row.detected_at,
        )
        for row in take
    ]


@cache
def _claim_statements() -> tuple[Select[Any], Update]:
    """A claim's two statements, built once (building them took longer than running them):
    the due deliveries of subscription ``c_name`` at ``c_now``, at most ``c_count``, locked;
    and the lease of those ``c_ids`` to ``c_worker`` until ``c_until``."""
    d = deliveries.c
    now = bindparam("c_now", type_=UTCDateTime())
    until = bindparam("c_until", type_=UTCDateTime())
    due = (
        select(
            d.id,
            d.notification_id,
            d.event_type,
            d.attempts,
            d.retry_base,
            d.leased_by,
            d.lease_until,
            notifications.c.payload,
            notifications.c.created_at.label("detected_at"),
        )
        .join(notifications, notifications.c.id == d.notification_id)
        .where(
            d.subscription == bindparam("c_name", type_=String()),
            d.next_attempt_at <= now,
            d.status.in_(QUEUED),
        )
        .order_by(d.next_attempt_at)
        .limit(bindparam("c_count", type_=Integer()))
        .with_for_update(skip_locked=True, of=deliveries)
    )
    lease = (
        update(deliveries)
        .where(d.id.in_(bindparam("c_ids", expanding=True)))
        .values(
            attempts=d.attempts + 1,
            leased_by=bindparam("c_worker", type_=String()),
            lease_until=until,
            next_attempt_at=until,
            updated_at=now,
        )
    )
    return due, lease


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
    if conn.dialect.name in queuesql.WRITTEN_OUT:
        queuesql.finish(conn, done, worker=worker, now=now)
    else:
        _finish_compiled(conn, done, worker=worker, now=now)


def _finish_compiled(
    conn: Connection, done: Sequence[Finished], *, worker: str, now: datetime
) -> None:
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
    conn.execute(
        _finish_statement(worker, now),
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


def _finish_statement(worker: str, now: datetime) -> Update:
    d = deliveries.c
    # Only while the lease is still ours: after a lost lease another dispatcher owns the row.
    return (
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


def enqueue(
    conn: Connection,
    items: Sequence[Notification],
    *,
    now: datetime,
    skip: str | None = None,
    lock: bool = True,
) -> int:
    """Queue one pending delivery of each notification per enabled subscription that wants it
    (but ``skip``: an operational event is never sent to the subscription it is about);
    ``lock``: see ``subscriptions.wanted``.

    Returns the number queued. Runs inside the caller's transaction (the outbox's).
    """
    wanted = subs.wanted(conn, lock=lock)
    pairs: list[tuple[Notification, str]] = []
    ids: list[str] = []
    for n in items:
        slot = 0
        for name, types in wanted:
            if (n.type in types or "*" in types) and name != skip:
                pairs.append((n, name))
                ids.append(delivery_id(n.id, slot, name))
                slot += 1
    if pairs:  # column by column: a first load queues one per notification and subscription
        same = [0] * len(pairs)
        insert_columns(
            conn,
            deliveries,
            {
                "id": ids,
                "notification_id": [n.id for n, _name in pairs],
                "subscription": [name for _n, name in pairs],
                "event_type": [n.type for n, _name in pairs],
                "status": [DeliveryStatus.PENDING] * len(pairs),
                "attempts": same,
                "retry_base": same,
                "next_attempt_at": [now] * len(pairs),
                "created_at": [now] * len(pairs),
                "updated_at": [now] * len(pairs),
            },
        )
        announce(conn)
    return len(pairs)


def announce(conn: Connection) -> None:
    """Tell listening dispatchers that deliveries are due (PostgreSQL sends it on commit)."""
    if conn.dialect.name == "postgresql":
        conn.execute(select(func.pg_notify(CHANNEL, "")))


def requeue(conn: Connection, where: ColumnElement[bool], *, now: datetime) -> int:
    """Make the deliveries ``where`` selects pending and due now, their retry schedule restarted
    (resend, recover). Returns how many."""
    d = deliveries.c
    result = conn.execute(
        update(deliveries)
        .where(where)
        .values(
            status=DeliveryStatus.PENDING,
            next_attempt_at=now,
            retry_base=d.attempts,
            lease_until=None,
            leased_by=None,
            updated_at=now,
        )
    )
    if result.rowcount:
        announce(conn)
    return int(result.rowcount)


def end_queued(conn: Connection, subscription: str, reason: str, *, now: datetime) -> int:
    """End every queued delivery of ``subscription`` as dead with ``reason``; returns how many."""
    d = deliveries.c
    ended = conn.execute(
        update(deliveries)
        .where(d.subscription == subscription, d.status.in_(QUEUED))
        .values(**dead(reason, now=now))
    )
    return int(ended.rowcount)


def purge(conn: Connection, *, before: datetime) -> dict[str, int]:
    """Delete delivered and dead deliveries last changed before ``before``, with their attempts,
    notifications older than that which no delivery needs any more, the change log, and the
    ingest jobs that ended before it and have no notification left."""
    d = deliveries.c
    old = select(d.id).where(d.status.in_(TERMINAL), d.updated_at < before)
    removed_attempts = conn.execute(delete(attempts).where(attempts.c.delivery_id.in_(old)))
    removed = conn.execute(delete(deliveries).where(d.status.in_(TERMINAL), d.updated_at < before))
    n = notifications.c
    orphaned = ~select(d.id).where(d.notification_id == n.id).exists()
    removed_notes = conn.execute(delete(notifications).where(n.created_at < before, orphaned))
    removed_changes = changelog.purge(conn, before=before)  # kept as long as the log
    removed_jobs = jobs.purge(conn, before=before)
    return {
        "deliveries": int(removed.rowcount),
        "attempts": int(removed_attempts.rowcount),
        "notifications": int(removed_notes.rowcount),
        "changes": removed_changes,
        "jobs": removed_jobs,
    }
