"""A dispatcher's database outage: when it began, how long to wait before trying again, and
the two lines that tell of it.

The store is out when a call fails with an error waiting may cure (``store.db.unavailable_
reason``: the server stopped, the connection dropped, SQLite's file unreadable or locked for
long). One line says so when it begins, one when the store answers again; in between the
dispatcher claims nothing, holds the results of attempts that end, and tries the store again
after ``first`` seconds, then twice as long each time up to ``most``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime

from deltahook.clock import Clock
from deltahook.delivery import journal


class Outage:
    """Whether the store answers, and the backoff while it does not."""

    def __init__(self, *, first: float, most: float, clock: Clock) -> None:
        self._first = first
        self._most = most
        self._clock = clock
        self._wait = first
        self.since: datetime | None = None
        """When the outage began; None while the store answers."""

    @property
    def down(self) -> bool:
        return self.since is not None

    def failed(self, reason: str) -> None:
        """A store call failed for ``reason``: the outage begins (its one line), or goes on."""
        if self.since is None:
            self.since = self._clock()
            self._wait = self._first
            journal.store_unavailable(reason, first_s=self._first, most_s=self._most)

    def answered(self) -> None:
        """A store call succeeded: an outage, if any, is over (its one line)."""
        if self.since is not None:
            since, self.since = self.since, None
            journal.store_available(since=since, down_s=(self._clock() - since).total_seconds())

    def next_wait(self) -> float:
        """Seconds to wait before the next try: ``first``, then doubling up to ``most``."""
        wait = self._wait
        self._wait = min(wait * 2, self._most)
        return wait


async def pause(
    sleeping: Awaitable[object], *, nudge: asyncio.Event, stopping: Callable[[], bool]
) -> None:
    """Await ``sleeping`` (the injected sleep), or less: until ``stopping()`` says so, checked
    each time ``nudge`` is set (``Dispatcher.stop`` sets it)."""
    slept = asyncio.ensure_future(sleeping)
    try:
        while not stopping() and not slept.done():
            nudge.clear()
            nudged = asyncio.ensure_future(nudge.wait())
            await asyncio.wait({slept, nudged}, return_when=asyncio.FIRST_COMPLETED)
            nudged.cancel()
    finally:
        slept.cancel()
