"""The clock every service takes: a callable returning an aware UTC ``datetime``.

Services receive it (tests pass a fake); only the doors (CLI, API, ``Engine``) default to
``utc_now``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """Now, timezone-aware, in UTC."""
    return datetime.now(UTC)


def as_utc(when: datetime) -> datetime:
    """A timezone-aware ``when`` in UTC; ``ValueError`` if that falls outside years 1 to 9999.

    ``9999-12-31T23:59:59-14:00`` is a valid time whose UTC reading is not a ``datetime``:
    times from users pass through here before they reach the store.
    """
    try:
        return when.astimezone(UTC)
    except OverflowError:
        raise ValueError(
            f"{when.isoformat()} is out of range: in UTC it is past year 9999 or before year 1"
        ) from None
