"""A claim's and a finish's statements written out for SQLite, as SQLAlchemy compiles them
there (``queue`` runs them where the dialect is in ``WRITTEN_OUT``; PostgreSQL keeps the
compiled ones with ``FOR UPDATE SKIP LOCKED``): every claim and every batch of attempts runs
them, and SQLAlchemy's handling of each row's parameters took longer than SQLite took to write
the row. Values go through the columns' own types both ways; ``tests/unit/test_queue_statements``
keeps the text and parameter order the compiled statements', ``test_claim_rows`` and
``test_finish_rows`` the rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import Connection

from deltahook.delivery.status import QUEUED
from deltahook.store.bulk import bind_processor
from deltahook.store.tables import attempts, deliveries, notifications

if TYPE_CHECKING:
    from deltahook.delivery.claims import Finished

WRITTEN_OUT = frozenset({"sqlite"})
"""Dialects whose claims and finishes run the written-out statements below."""
# A claim's two statements as SQLAlchemy compiles them on SQLite (where FOR UPDATE is not
# written), written out: the parameters converted by the columns' own types, the rows read back
# through them (a test keeps both the same as the compiled statements'). The lease ends with
# one ``?`` per delivery id.
DUE = (
    "SELECT deliveries.id, deliveries.notification_id, deliveries.event_type, "
    "deliveries.attempts, deliveries.retry_base, deliveries.leased_by, deliveries.lease_until, "
    "notifications.payload, notifications.created_at AS detected_at FROM deliveries JOIN "
    "notifications ON notifications.id = deliveries.notification_id WHERE "
    "deliveries.subscription = ? AND deliveries.next_attempt_at <= ? AND deliveries.status "
    "IN (?, ?) ORDER BY deliveries.next_attempt_at LIMIT ? OFFSET ?"
)
LEASE = (
    "UPDATE deliveries SET attempts=(deliveries.attempts + ?), next_attempt_at=?, "
    "lease_until=?, leased_by=?, updated_at=? WHERE deliveries.id IN ("
)


class Due(NamedTuple):
    """A due delivery as ``DUE`` reads it: the columns of the compiled claim's rows."""

    id: str
    notification_id: str
    event_type: str
    attempts: int
    retry_base: int
    leased_by: str | None
    lease_until: datetime | None
    payload: bytes
    detected_at: datetime


def due(conn: Connection, name: str, *, now: datetime, count: int) -> list[Due]:
    """The deliveries of subscription ``name`` due at ``now``, at most ``count`` (``DUE``)."""
    d = deliveries.c
    columns = [d.id, d.notification_id, d.event_type, d.attempts, d.retry_base, d.leased_by]
    columns += [d.lease_until, notifications.c.payload, notifications.c.created_at]
    dialect = conn.dialect
    read = [column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns]
    cursor = conn.exec_driver_sql(
        DUE,
        (name, _processor(conn, d.next_attempt_at)(now), *QUEUED, count, 0),
    )
    found = []
    for row in cursor:
        values: list[Any] = [v if to is None else to(v) for to, v in zip(read, row, strict=True)]
        found.append(Due(*values))
    return found


def lease(
    conn: Connection, ids: Sequence[str], *, worker: str, until: datetime, now: datetime
) -> None:
    """Lease the deliveries ``ids`` to ``worker`` until ``until`` (``LEASE``)."""
    at = _processor(conn, deliveries.c.lease_until)
    stamp = at(until)
    conn.exec_driver_sql(
        LEASE + ", ".join("?" * len(ids)) + ")", (1, stamp, stamp, worker, at(now), *ids)
    )


# ``finish``'s two statements as SQLAlchemy compiles them on SQLite, written out, their values
# converted by the columns' own types: every batch runs them, and SQLAlchemy's handling of each
# row's parameters took longer than SQLite took to write the row (a test keeps them the same).
RECORD = (
    "INSERT INTO attempts (delivery_id, number, started_at, duration_ms, status_code, "
    "response_excerpt, error, worker) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
FINISH = (
    "UPDATE deliveries SET status=?, next_attempt_at=?, lease_until=?, leased_by=?, "
    "updated_at=?, last_status_code=?, last_error=? WHERE deliveries.id = ? AND "
    "deliveries.leased_by = ? AND deliveries.attempts = ?"
)


def finish(conn: Connection, done: Sequence[Finished], *, worker: str, now: datetime) -> None:
    """``queue.finish``: the attempts recorded (``RECORD``), their deliveries moved on while
    the lease is still ``worker``'s (``FINISH``)."""
    at = _processor(conn, attempts.c.started_at)
    when = _processor(conn, deliveries.c.next_attempt_at)
    ms = _processor(conn, attempts.c.duration_ms)
    conn.exec_driver_sql(
        RECORD,
        [
            (
                f.delivery_id,
                f.attempt,
                at(f.started_at),
                ms(f.duration_ms),
                f.status_code,
                f.excerpt,
                f.error,
                worker,
            )
            for f in done
        ],
    )
    stamp = when(now)
    conn.exec_driver_sql(
        FINISH,
        [
            (
                f.status,
                when(f.next_attempt_at),
                None,
                None,
                stamp,
                f.status_code,
                f.error,
                f.delivery_id,
                worker,
                f.attempt,
            )
            for f in done
        ],
    )


def _processor(conn: Connection, column: Any) -> Any:
    """How ``column``'s type converts a value for the driver on this dialect, as SQLAlchemy
    does (as is, when it does not)."""
    return bind_processor(column.type, conn.dialect) or _as_is


def _as_is(value: Any) -> Any:
    return value
