"""Which database errors are an outage (wait and try again), and the backoff between tries."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from deltahook.delivery.outage import Outage
from deltahook.store.db import unavailable_reason

_DROPPED = DBAPIError("SELECT 1", None, sqlite3.DatabaseError("gone"), connection_invalidated=True)


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        # the server stopped, the file unreadable or locked: the driver's words, on one line
        (
            OperationalError("SELECT 1", None, sqlite3.OperationalError("disk I/O\nerror")),
            "disk I/O error",
        ),
        (InterfaceError("SELECT 1", None, sqlite3.InterfaceError("closed")), "closed"),
        (_DROPPED, "gone"),  # a connection SQLAlchemy found dead
        (PoolTimeout(), "no pooled database connection came free in time"),
        # a constraint or a bug: waiting cures nothing
        (IntegrityError("INSERT", None, sqlite3.IntegrityError("UNIQUE")), None),
        (DBAPIError("SELECT 1", None, sqlite3.DatabaseError("malformed")), None),
        (ValueError("bug"), None),
    ],
)
def test_an_outage_is_an_error_that_waiting_may_cure(error: Exception, reason: str | None) -> None:
    """Connection, file and lock failures are an outage, told with the driver's reason; any
    other error is raised as it is."""
    assert unavailable_reason(error) == reason


def test_the_backoff_doubles_from_the_first_wait_up_to_the_most_and_restarts_each_outage() -> None:
    """Tries wait 1, 2, 4 ... up to 60 s; an outage after the store answered starts at 1 s."""
    outage = Outage(first=1.0, most=60.0, clock=lambda: datetime(2026, 1, 1, tzinfo=UTC))
    outage.failed("gone")
    assert [outage.next_wait() for _ in range(9)] == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    outage.answered()
    assert not outage.down
    outage.failed("gone again")
    assert outage.next_wait() == 1
