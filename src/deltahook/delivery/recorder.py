"""The dispatcher's recorder: attempts' results written in batches, unstarted claims given back.

Results gather for ``flush_delay`` (20 ms or so) and go to the store in one transaction: one
insert of attempts, one update of deliveries (``queue.finish``). A failed write is tried again
a few times; after that the leases run out and the deliveries are attempted again, so none is
lost. Claims a stopping dispatcher never started are released (``queue.release``); so are,
with the next batch, claims a lane's open circuit holds back. The attempts' outcomes are merged
into the store's endpoint health with the batch, with the operational events that marks
(``shared_health.py``), and the lanes take the merged health back.

While the database does not answer at all (an outage, ``outage.py``), results are held
instead, however long it lasts; the dispatcher writes them (``flush``) as soon as it answers,
before it claims again, so their deliveries are neither lost nor sent twice. Only a stop
during an outage leaves them unwritten (their leases run out).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from deltahook.clock import Clock
from deltahook.delivery import journal, queue, shared_health
from deltahook.delivery.claims import Claimed, Finished
from deltahook.delivery.health import Health
from deltahook.delivery.shared_health import Merged, Outcome
from deltahook.errors import StoreUnavailableError
from deltahook.store import outbox

logger = logging.getLogger("deltahook.delivery")
InDb = Callable[..., Coroutine[Any, Any, Any]]
"""Runs ``func(conn, *args, **kwargs)`` in a transaction on the dispatcher's database thread."""
OnHealth = Callable[[Mapping[str, Health], Mapping[str, Sequence[Outcome]]], None]
"""Told the stored endpoint health of the subscriptions a batch had outcomes of, and the
outcomes not merged yet."""


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
        client_id: int = 0,
        on_health: OnHealth | None = None,
        store_down: Callable[[], bool] = lambda: False,
    ) -> None:
        self._in_db = in_db
        self._worker = worker
        self._clock = clock
        self._flush_delay = flush_delay
        self._stopping = stopping
        self._client_id = client_id
        self._on_health = on_health
        self._store_down = store_down
        self._results: list[Finished] = []
        self._unstarted: list[Claimed] = []
        self._held_back: list[Claimed] = []
        self._outcomes: dict[str, list[Outcome]] = {}
        self._merging: Mapping[str, Sequence[Outcome]] = {}
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

    def outcome(self, name: str, outcome: Outcome) -> None:
        """Merge an attempt's outcome into ``name``'s stored endpoint health with the next
        batch."""
        self._outcomes.setdefault(name, []).append(outcome)
        self._ready.set()

    def unmerged(self) -> dict[str, list[Outcome]]:
        """The outcomes not in the store yet (being written, or waiting for the next batch)."""
        found = {name: list(outcomes) for name, outcomes in self._merging.items()}
        for name, outcomes in self._outcomes.items():
            found.setdefault(name, []).extend(outcomes)
        return found

    def close(self) -> None:
        """No more results will come (every attempt has ended): ``run`` writes the rest and
        returns."""
        self._closed = True
        self._ready.set()

    async def run(self) -> None:
        """Write batches as results come in; return once closed and nothing is left.

        While the dispatcher is stopping, each result is written at once (no gathering); the
        loop still waits for ``close``, since requests in flight may end after any flush.
        While the store is down results are held (``flush`` writes them); once closed, a store
        still down leaves them unwritten, said in one line.
        """
        while True:
            await self._ready.wait()
            self._ready.clear()
            closed = self._closed
            if not closed and not self._stopping():
                await asyncio.sleep(self._flush_delay)  # let a batch gather
            if self._store_down() and not closed:
                continue  # held until the store answers
            try:
                await self._flush()
            except StoreUnavailableError:
                if not closed:
                    continue
                self._abandon()
                return
            if closed and not self._results:
                return

    async def flush(self) -> bool:
        """Write what is held now; False when nothing was. A ``StoreUnavailableError`` (and the
        results held still) when the store does not answer."""
        held = bool(self._results or self._held_back or self._outcomes)
        await self._flush()
        return held

    def _abandon(self) -> None:
        """Say that the results held are not written: the store did not answer by the stop."""
        count = len(self._results)
        self._results, self._held_back, self._outcomes = [], [], {}
        logger.error(
            "%d attempt results were not recorded: the database did not answer before the "
            "stop; those deliveries are sent again once their leases run out",
            count,
        )

    async def _flush(self) -> None:
        batch, self._results = self._results, []
        held, self._held_back = self._held_back, []
        outcomes, self._outcomes = self._outcomes, {}
        if not (batch or held or outcomes):
            return
        self._merging = outcomes
        try:
            await self._write(batch, held, outcomes)
        except StoreUnavailableError:  # held again, before what came meanwhile
            self._results[:0] = batch
            self._held_back[:0] = held
            for name, items in outcomes.items():
                self._outcomes[name] = [*items, *self._outcomes.get(name, [])]
            raise
        finally:
            self._merging = {}

    async def _write(
        self,
        batch: Sequence[Finished],
        held: Sequence[Claimed],
        outcomes: Mapping[str, Sequence[Outcome]],
    ) -> None:
        for wait in (0.1, 0.5, 2.0, None):
            try:
                merged = await self._in_db(
                    _write,
                    batch,
                    held,
                    outcomes,
                    worker=self._worker,
                    client_id=self._client_id,
                    now=self._clock(),
                )
                self._merging = {}
                self._merged(merged)
                return
            except StoreUnavailableError:
                raise
            except Exception:
                if wait is None:
                    # The leases run out and the deliveries are attempted again: none is lost.
                    logger.exception(
                        "recording %d attempts failed; they will be retried", len(batch)
                    )
                    return
                logger.warning("recording attempts failed; retrying in %s s", wait)
                await asyncio.sleep(wait)

    def _merged(self, merged: Merged) -> None:
        for name, verdict in merged.moments:
            assert verdict.change is not None
            journal.circuit(name, verdict.change, verdict.health, verdict.disabled)
        if self._on_health is not None and merged.health:
            self._on_health(merged.health, self.unmerged())

    async def give_back(self) -> None:
        """Release the claims never attempted: due now, attempt uncounted."""
        unstarted, self._unstarted = self._unstarted, []
        if not unstarted:
            return
        try:
            await self._in_db(queue.release, unstarted, worker=self._worker, now=self._clock())
        except StoreUnavailableError:
            logger.warning(
                "%d claims not attempted were not given back: the database did not answer "
                "before the stop; they are due again once their leases run out",
                len(unstarted),
            )


def _write(
    conn: Connection,
    batch: Sequence[Finished],
    held: Sequence[Claimed],
    outcomes: Mapping[str, Sequence[Outcome]],
    *,
    worker: str,
    client_id: int,
    now: datetime,
) -> Merged:
    """One batch in one transaction: results, held-back claims, the endpoints' health and the
    operational events it marks."""
    queue.finish(conn, batch, worker=worker, now=now)
    queue.release(conn, held, worker=worker, now=now)
    merged = shared_health.merge(conn, outcomes, client_id=client_id, now=now)
    # Never to the subscription the news is about. Unlocked: this transaction already holds
    # deliveries it finished, and a deletion that holds its subscription FOR UPDATE ends that
    # subscription's deliveries; waiting for it here would be a deadlock.
    for about, verdict in merged.moments:
        if verdict.event is not None:
            outbox.record(conn, [verdict.event], now=now, skip=about, lock=False)
    return merged
