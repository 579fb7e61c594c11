"""The dispatcher: claim due deliveries and start their attempts (``attempts.py`` sends each
one, logs it and decides what comes next).

One asyncio loop, one pooled HTTP client, one database thread. Each subscription is a *lane*
with its own concurrency limit: the dispatcher claims at most ``prefetch * max_concurrency``
deliveries of a lane at a time and sends at most ``max_concurrency`` of them at once, so a slow
or hanging endpoint fills only its own lane while the others keep flowing. Results are written
in batches (one insert of attempts, one update of deliveries) every 20 ms or so.

Idle, it polls with a short backoff (``poll_min`` doubling up to ``poll_max``, 50 ms by
default); ``wake()`` cuts the wait short. On PostgreSQL a listener (``listen.py``) calls it
when deliveries are queued, so the poll slows to ``poll_max_listening`` there. ``stop()``
(SIGINT / SIGTERM in the CLI) lets requests in flight finish, gives back claims not yet
started and records everything before ``run`` returns.

When the database stops answering (``outage.py``) the dispatcher claims nothing, holds the
results of attempts that end, and tries the store again after ``store_retry_first`` seconds,
doubling up to ``store_retry_max``; once it answers, the held results are written before
anything is claimed, so no delivery is lost or sent twice over the outage. A run ``once``
ends when the outage begins instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine

from deltahook.clock import Clock, utc_now
from deltahook.delivery import heartbeat, journal, log, queue
from deltahook.delivery.attempts import Attempts, RunStats
from deltahook.delivery.claims import Claimed
from deltahook.delivery.lanes import Lane, Lanes
from deltahook.delivery.listen import Listener
from deltahook.delivery.outage import Outage, pause
from deltahook.delivery.recorder import Recorder
from deltahook.delivery.sender import Sender
from deltahook.delivery.upkeep import Upkeep
from deltahook.errors import StoreUnavailableError
from deltahook.store.db import unavailable_reason

logger = logging.getLogger("deltahook.delivery")
T = TypeVar("T")


@dataclass(frozen=True, slots=True, kw_only=True)
class DispatcherOptions:
    """How a dispatcher paces itself; the defaults suit one process on SQLite or PostgreSQL."""

    worker_id: str
    lease_margin: timedelta = timedelta(seconds=30)
    prefetch: int = 2
    poll_min: float = 0.005
    poll_max: float = 0.05
    poll_max_listening: float = 1.0
    listen: bool = True
    flush_delay: float = 0.02
    refresh_every: float = 5.0
    purge_every: timedelta | None = timedelta(hours=1)
    retention: timedelta = log.DEFAULT_RETENTION
    allow_private: bool = False  # the config's allow_private_urls: send to private addresses
    client_id: int = 0  # the ClientId of operational events (the config's constants)
    categories: Mapping[str, str] = field(default_factory=dict)
    """Each event type's catalog category, for the directscale envelope (``event_categories``)."""
    summary_every: float = 60.0  # seconds between summary lines while running
    store_retry_first: float = 1.0
    """Seconds before the database is tried again once it stopped answering..."""
    store_retry_max: float = 60.0
    """...doubling each time up to this."""


class Dispatcher:
    """Delivers what is due; ``run(once=True)`` is the "deliver what is due now" step."""

    def __init__(
        self,
        db: Engine,
        *,
        options: DispatcherOptions,
        sender: Sender | None = None,
        clock: Clock = utc_now,
        jitter: Callable[[], float] = random.random,
        env: Mapping[str, str] | None = None,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self._db_engine = db
        self._options = options
        self._sender = sender
        self._clock = clock
        self._jitter = jitter
        self._sleep = sleep  # the waits between tries of a database that stopped answering
        self._outage = Outage(
            first=options.store_retry_first, most=options.store_retry_max, clock=clock
        )
        self._lanes = Lanes(env)
        self._upkeep = Upkeep(options=options, lanes=self._lanes, in_db=self._in_db, clock=clock)
        self._tasks: set[asyncio.Task[None]] = set()
        self._recorder: Recorder | None = None
        self._attempts: Attempts | None = None
        self._stopping = False
        self._once = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._nudge: asyncio.Event | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._ended = 0  # attempts ended (or given back) so far
        self.cut_short = False
        """The last run (``once``) ended early: the database stopped answering."""
        self.stats = RunStats()
        self._summaries = journal.SummaryLines(self.stats.snapshot, every=options.summary_every)

    @property
    def store_down(self) -> bool:
        """The database stopped answering and has not answered since."""
        return self._outage.down

    def wake(self) -> None:
        """New work may be due: skip the rest of the idle wait (safe from any thread)."""
        if self._loop is not None and self._nudge is not None:
            self._loop.call_soon_threadsafe(self._nudge.set)

    def stop(self) -> None:
        """Finish the requests in flight, record them and return from ``run``."""
        self._stopping = True
        self.wake()

    def cancel_in_flight(self) -> None:
        """Stop now: abandon requests in flight (their leases expire and they are retried)."""
        self.stop()
        for task in list(self._tasks):
            task.cancel()

    async def run(self, *, once: bool = False) -> RunStats:
        """Deliver until ``stop()``; with ``once``, deliver what is due now and return (the
        dispatcher may run again after a run returns: each run has its own stats)."""
        self._once, self.stats = once, RunStats()
        self.cut_short = False
        self._summaries = journal.SummaryLines(
            self.stats.snapshot, every=self._options.summary_every
        )
        self._loop = asyncio.get_running_loop()
        self._lanes.new_slots()  # this run may be on another loop than the last
        self._nudge = asyncio.Event()
        recorder = self._recorder = Recorder(
            in_db=self._in_db,
            worker=self._options.worker_id,
            clock=self._clock,
            flush_delay=self._options.flush_delay,
            stopping=lambda: self._stopping,
            client_id=self._options.client_id,
            on_health=self._lanes.adopt,
            store_down=lambda: self._outage.down,
        )
        with ThreadPoolExecutor(1, thread_name_prefix="deltahook-db") as pool:
            self._pool = pool
            async with self._sender or Sender(allow_private=self._options.allow_private) as sender:
                self._attempts = Attempts(
                    sender=sender,
                    recorder=recorder,
                    stats=self.stats,
                    clock=self._clock,
                    jitter=self._jitter,
                    client_id=self._options.client_id,
                    categories=self._options.categories,
                )
                await self._deliver(recorder)
        return self.stats

    async def _deliver(self, recorder: Recorder) -> None:
        """A run's work once its recorder, database thread and sender are ready: deliver, then
        end the run (record and give back what is left, leave the heartbeat)."""
        assert self._loop is not None
        flusher = asyncio.create_task(recorder.run())
        flusher.add_done_callback(self._flusher_done)
        listener = self._listener()
        try:
            await self._upkeep.refresh(self._loop.time(), unmerged=recorder.unmerged, force=True)
            await self._main(listening=listener is not None)
            await asyncio.gather(*self._tasks, return_exceptions=True)
        finally:
            self._stopping = True
            recorder.close()  # every attempt has ended (gathered, or cancelled)
            try:
                await flusher  # raises what stopped the recorder, after the rest below
            finally:
                await recorder.give_back()
                self._maybe_summarize(final=True)
                with contextlib.suppress(StoreUnavailableError):  # its beat goes stale instead
                    await self._in_db(heartbeat.leave, self._options.worker_id)
                if listener is not None:
                    await asyncio.to_thread(listener.stop)
                self._stopping = False  # this run is over: another may start

    def _flusher_done(self, task: asyncio.Task[None]) -> None:
        """A recorder that died stops the dispatcher: sending on unrecorded is sending twice."""
        if task.cancelled() or task.exception() is None or self._stopping:
            return
        logger.critical(
            "recording attempts failed for good; stopping (claims not recorded are retried "
            "when their leases run out)",
            exc_info=task.exception(),
        )
        self.stop()

    def _listener(self) -> Listener | None:
        if self._once or not self._options.listen or self._db_engine.dialect.name != "postgresql":
            return None
        options = self._options
        return Listener(
            self._db_engine,
            self.wake,
            retry_first=options.store_retry_first,
            retry_max=options.store_retry_max,
        ).start()

    async def _main(self, *, listening: bool) -> None:
        assert self._nudge is not None
        assert self._loop is not None
        assert self._recorder is not None
        options = self._options
        poll_max = options.poll_max_listening if listening else options.poll_max
        backoff = options.poll_min
        while not self._stopping:
            if self._outage.down:
                if self._once:
                    self.cut_short = True  # what is due now cannot be had now
                    return
                if not await self._store_back():
                    continue
            await self._upkeep.refresh(self._loop.time(), unmerged=self._recorder.unmerged)
            await self._upkeep.purge()
            self._maybe_summarize()
            ended = self._ended
            claimed = await self._claim()
            for item in claimed:
                self._start(item)
            # An attempt that ended during the claim may have freed its lane: look again.
            if self._once and not claimed and not self._tasks and self._ended == ended:
                self.cut_short = self._outage.down
                return
            backoff = self._options.poll_min if claimed else backoff
            try:
                await asyncio.wait_for(self._nudge.wait(), timeout=backoff)
            except TimeoutError:
                if not claimed:
                    backoff = min(backoff * 2, poll_max)
            self._nudge.clear()

    async def _store_back(self) -> bool:
        """Wait the outage's next backoff (cut short by ``stop()``), then try the store: the
        results held meanwhile are written first, before anything is claimed again. True when
        it answered."""
        assert self._recorder is not None
        assert self._nudge is not None
        wait = self._outage.next_wait()
        await pause(self._sleep(wait), nudge=self._nudge, stopping=lambda: self._stopping)
        if self._stopping:
            return False
        try:
            if not await self._recorder.flush():  # nothing held: ask the store something cheap
                await self._in_db(heartbeat.beat, self._options.worker_id, now=self._clock())
        except StoreUnavailableError:
            return False
        return True

    async def _claim(self) -> list[Claimed]:
        wants = self._lanes.wants(
            prefetch=self._options.prefetch, margin=self._options.lease_margin, now=self._clock()
        )
        if not wants:
            return []
        try:
            return await self._in_db(
                queue.claim, wants, worker=self._options.worker_id, now=self._clock()
            )
        except StoreUnavailableError:
            return []  # told once, by the outage
        except Exception:
            logger.exception("claiming deliveries failed; trying again shortly")
            return []

    def _start(self, item: Claimed) -> None:
        lane = self._lanes[item.subscription]
        lane.held += 1
        task = asyncio.create_task(self._attempt(lane, item))
        self._tasks.add(task)
        task.add_done_callback(self._attempt_done)

    def _attempt_done(self, task: asyncio.Task[None]) -> None:
        """Forget an ended attempt; one that raised is logged here, never dropped."""
        self._tasks.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            logger.error(
                "a delivery attempt ended with an unexpected error; its lease will run out "
                "and it will be tried again",
                exc_info=error,
            )

    async def _attempt(self, lane: Lane, item: Claimed) -> None:
        try:
            async with lane.slots:
                assert self._recorder is not None
                assert self._attempts is not None
                if self._stopping:
                    self._recorder.unstarted(item)
                    return
                if not lane.active or lane.health.blocked(self._clock()):
                    self._recorder.hold_back(item)  # the circuit opened: it waits, uncounted
                    return
                await self._attempts.make(lane, item)
        finally:
            lane.held -= 1
            self._ended += 1
            if lane.refill_due(prefetch=self._options.prefetch) or (
                self._once and len(self._tasks) <= 1
            ):
                self.wake()

    def _maybe_summarize(self, *, final: bool = False) -> None:
        assert self._loop is not None
        self._summaries.tick(self._loop.time(), final=final)

    async def _in_db(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``func(conn, ...)`` in a transaction on the database thread; a
        ``StoreUnavailableError`` (the outage begins, or goes on) when the store cannot be
        used now."""
        assert self._loop is not None
        try:
            result = await self._loop.run_in_executor(
                self._pool, partial(self._transaction, func, *args, **kwargs)
            )
        except Exception as exc:
            if (reason := unavailable_reason(exc)) is None:
                raise
            self._outage.failed(reason)
            raise StoreUnavailableError(reason) from exc
        self._outage.answered()
        return result

    def _transaction(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        conn: Connection
        with self._db_engine.begin() as conn:
            return func(conn, *args, **kwargs)
