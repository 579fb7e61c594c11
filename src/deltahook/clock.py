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
