"""The dispatcher's recorder: attempts' results written in batches, unstarted claims given back.

Results gather for ``flush_delay`` (20 ms or so) and go to the store in one transaction: one
insert of attempts, one update of deliveries (``queue.finish``). A failed write is tried again
a few times; after that the leases run out and the deliveries are attempted again, so none is
lost. Claims a stopping dispatcher never started are released (``queue.release``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from deltahook.clock import Clock
from deltahook.delivery import queue
from deltahook.delivery.claims import Claimed, Finished

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
        self._ready = asyncio.Event()
        self._closed = False

    def add(self, finished: Finished) -> None:
        """Queue one attempt's result for the next batch."""
        self._results.append(finished)
        self._ready.set()

    def unstarted(self, claim: Claimed) -> None:
        """Keep a claim the dispatcher will not attempt, to give back at the end."""
        self._unstarted.append(claim)

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
        if not batch:
            return
        for wait in (0.1, 0.5, 2.0, None):
            try:
                await self._in_db(queue.finish, batch, worker=self._worker, now=self._clock())
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
