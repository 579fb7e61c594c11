"""A clock the test moves by hand, for services that take a ``deltahook.clock.Clock``."""

from __future__ import annotations

from datetime import datetime


class MovableClock:
    """Returns ``now``, which the test sets (``clock.now += timedelta(...)``)."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now
