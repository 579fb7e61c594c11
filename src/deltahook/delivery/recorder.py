"""The dispatcher's recorder: attempts' results written in batches, unstarted claims given back.

Results gather for ``flush_delay`` (20 ms or so) and go to the store in one transaction: one
insert of attempts, one update of deliveries (``queue.finish``). A failed write is tried again
a few times; after that the leases run out and the deliveries are attempted again, so none is
lost. Claims a stopping dispatcher never started are released (``queue.release``); so are,
with the next batch, claims a lane's open circuit holds back. The lanes' endpoint health and
the operational events it marks (``health.py``) are written with the batch too.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from deltahook.clock import Clock
from deltahook.delivery import queue
from deltahook.delivery import subscriptions as subs
from deltahook.delivery.claims import Claimed, Finished
from deltahook.delivery.health import Health
from deltahook.notifications import Notification
from deltahook.store import outbox

logger = logging.getLogger("deltahook.delivery")
InDb = Callable[..., Coroutine[Any, Any, Any]]
"""Runs ``func(conn, *args, **kwargs)`` in a transaction on the dispatcher's database thread."""


class Recorder:
    """Holds results and unstarted claims until they are written."""

    def __init__(
        self,
        *,
        in_db: InDb,
        worker: str,
        clock: Clock,
        flush_delay: float,
        stopping: Callable[[], bool],
    ) -> None:
        self._in_db = in_db
        self._worker = worker
        self._clock = clock
        self._flush_delay = flush_delay
        self._stopping = stopping
        self._results: list[Finished] = []
        self._unstarted: list[Claimed] = []
        self._held_back: list[Claimed] = []
        self._health: dict[str, Health] = {}
        self._disabled: dict[str, str] = {}
        self._events: list[tuple[str, Notification]] = []
        self._ready = asyncio.Event()
        self._closed = False

    def add(self, finished: Finished) -> None:
        """Queue one attempt's result for the next batch."""
        self._results.append(finished)
        self._ready.set()

    def unstarted(self, claim: Claimed) -> None:
        """Keep a claim the dispatcher will not attempt, to give back at the end."""
        self._unstarted.append(claim)

    def hold_back(self, claim: Claimed) -> None:
        """Give back, with the next batch, a claim its lane will not send now."""
        self._held_back.append(claim)
        self._ready.set()

    def health(
        self,
        name: str,
        health: Health,
        *,
        event: Notification | None = None,
        disabled: str | None = None,
    ) -> None:
        """Record ``name``'s endpoint health with the next batch, the operational ``event`` it
        marks, and why it is switched off (``disabled``)."""
        self._health[name] = health
        if event is not None:
            self._events.append((name, event))
        if disabled is not None:
            self._disabled[name] = disabled
        self._ready.set()

    def close(self) -> None:
        """No more results will come (every attempt has ended): ``run`` writes the rest and
        returns."""
        self._closed = True
        self._ready.set()

    async def run(self) -> None:
        """Write batches as results come in; return once closed and nothing is left.

        While the dispatcher is stopping, each result is written at once (no gathering); the
        loop still waits for ``close``, since requests in flight may end after any flush.
        """
        while True:
            await self._ready.wait()
            self._ready.clear()
            closed = self._closed
            if not closed and not self._stopping():
                await asyncio.sleep(self._flush_delay)  # let a batch gather
            await self._flush()
            if closed and not self._results:
                return

    async def _flush(self) -> None:
        batch, self._results = self._results, []
        held, self._held_back = self._held_back, []
        health, self._health = self._health, {}
        disabled, self._disabled = self._disabled, {}
        events, self._events = self._events, []
        if not (batch or held or health):
            return
        for wait in (0.1, 0.5, 2.0, None):
            try:
                await self._in_db(
                    _write,
                    batch,
                    held,
                    health,
                    disabled,
                    events,
                    worker=self._worker,
                    now=self._clock(),
                )
                return
            except Exception:
                if wait is None:
                    # The leases run out and the deliveries are attempted again: none is lost.
                    logger.exception(
                        "recording %d attempts failed; they will be retried", len(batch)
                    )
                    return
                logger.warning("recording attempts failed; retrying in %s s", wait)
                await asyncio.sleep(wait)

    async def give_back(self) -> None:
        """Release the claims never attempted: due now, attempt uncounted."""
        unstarted, self._unstarted = self._unstarted, []
        if unstarted:
            await self._in_db(queue.release, unstarted, worker=self._worker, now=self._clock())


def _write(
    conn: Connection,
    batch: Sequence[Finished],
    held: Sequence[Claimed],
    health: Mapping[str, Health],
    disabled: Mapping[str, str],
    events: Sequence[tuple[str, Notification]],
    *,
    worker: str,
    now: datetime,
) -> None:
    """One batch in one transaction: results, held-back claims, health, operational events."""
    queue.finish(conn, batch, worker=worker, now=now)
    queue.release(conn, held, worker=worker, now=now)
    subs.record_health(conn, health, disabled, now=now)
    for about, event in events:  # never to the subscription the news is about
        outbox.record(conn, [event], now=now, skip=about)
