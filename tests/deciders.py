"""Deciders for tests: stand-ins for the rules that fail on purpose."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection

from deltahook.changes.model import EntityChange
from deltahook.notifications import Notification


class FailsOnCall:
    """A decider that decides nothing and raises the ``call``-th time it is asked."""

    def __init__(self, call: int) -> None:
        self.call = call
        self.calls = 0

    def decide(
        self, conn: Connection, changes: Sequence[EntityChange], *, job_id: str, now: datetime
    ) -> list[Notification]:
        self.calls += 1
        if self.calls == self.call:
            raise RuntimeError("the rules failed")
        return []
