"""A dispatcher whose database stops answering: one line when the outage begins and one when
it ends, tries backing off from 1 s to 60 s, and no delivery lost or sent twice across it."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from deltahook.delivery import journal, listen
from deltahook.delivery.dispatcher import Dispatcher, DispatcherOptions
from deltahook.delivery.listen import Listener
from deltahook.delivery.sender import Sender
from deltahook.store.db import open_engine
from tests.delivery_support import World
from tests.tcp_proxy import Proxy

REASON = "server closed the connection unexpectedly"


class Fault:
    """Makes every statement on ``db`` fail as a dropped connection does, while ``on``."""

    def __init__(self, db: Engine) -> None:
        self.on = False
        self._error = db.dialect.loaded_dbapi.OperationalError
        event.listen(db, "before_cursor_execute", self._check)

    def _check(self, *_: Any) -> None:
        if self.on:
            raise self._error(REASON)


class Gate:
    """An endpoint (``httpx.MockTransport``) that holds each request until it is opened."""

    def __init__(self) -> None:
        self.open = threading.Event()
        self.received: list[str] = []

    async def answer(self, request: httpx.Request) -> httpx.Response:
        self.received.append(request.headers["norce-event-message-id"])
        await asyncio.to_thread(self.open.wait)
        return httpx.Response(200)


def _until(condition: Any, what: str) -> None:
    """Wait for ``condition()`` (a hand-off between threads, not a timing assertion)."""
    for _ in range(3000):
        if condition():
            return
        time.sleep(0.01)
    raise AssertionError(f"never happened: {what}")


@pytest.fixture
def dispatcher_db(database_url: str) -> Iterator[Engine]:
    """The dispatcher's own engine on the world's database: its faults are its alone."""
    db = open_engine(database_url)
    yield db
    db.dispose()


@pytest.fixture
def log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """The dispatcher's log records from info up (a CLI test may have quietened them)."""
    caplog.set_level(logging.INFO, logger="deltahook.delivery")
    return caplog


def _events(log: pytest.LogCaptureFixture) -> list[str]:
    """Each line but the summary: its event, or its message where it has none."""
    return [
        getattr(r, "fields", {}).get("event", r.getMessage())
        for r in log.records
        if r.name.startswith("deltahook.delivery") and r.name != journal.summaries.name
    ]


def _dispatcher(world: World, db: Engine, gate: Gate, sleep: Any, **options: Any) -> Dispatcher:
    return Dispatcher(
        db,
        options=DispatcherOptions(worker_id="outlasting", listen=False, **options),
        sender=Sender(transport=httpx.MockTransport(gate.answer)),
        clock=world.clock,
        jitter=lambda: 0.0,
        sleep=sleep,
    )


def test_an_outage_is_two_lines_backs_off_and_loses_or_doubles_nothing(
    world: World, dispatcher_db: Engine, log: pytest.LogCaptureFixture
) -> None:
    """The store fails while a request is in flight and another delivery is queued: one line
    says so, the store is tried after 1, 2, 4 ... 60, 60 s, the answer that came meanwhile is
    held and written once it answers, before the queued one is claimed and sent; one line says
    it answers again. Each is sent once and recorded delivered after one attempt (before, a
    traceback was logged at every poll, and the held result was dropped after 2.6 s, so its
    delivery was sent again once its lease ran out)."""
    world.subscribe("shop", "https://shop.example/hook")
    [first] = world.notify()
    fault = Fault(dispatcher_db)
    gate = Gate()
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        # The store answers again once the first answer is held and the backoff is at its most.
        if len(sleeps) >= 8 and dispatcher.stats.attempts == 1:
            fault.on = False
        await asyncio.sleep(0)

    dispatcher = _dispatcher(world, dispatcher_db, gate, sleep)
    thread = threading.Thread(target=lambda: asyncio.run(dispatcher.run()))
    thread.start()
    try:
        _until(lambda: gate.received == [first.id], "the first request in flight")
        fault.on = True
        _until(lambda: dispatcher.store_down, "the outage seen")
        [second] = world.notify()  # queued by a writer the outage does not reach
        gate.open.set()
        _until(lambda: len(gate.received) == 2, "the second sent once the store answers")
        _until(lambda: len(world.attempts()) == 2, "both recorded")
    finally:
        gate.open.set()
        dispatcher.stop()
        thread.join(timeout=30)
    assert gate.received == [first.id, second.id]
    assert [(d.status, d.attempts, d.leased_by) for d in world.deliveries()] == [
        ("delivered", 1, None),
        ("delivered", 1, None),
    ]
    assert sleeps[:8] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert set(sleeps[7:]) == {60}
    assert _events(log) == ["store unavailable", "store available"]
    down = next(r for r in log.records if r.getMessage().startswith("the database cannot"))
    assert REASON in down.getMessage()
    assert (down.levelno, down.exc_info) == (logging.WARNING, None)


def test_stop_during_an_outage_ends_at_once_and_says_what_was_not_recorded(
    world: World, dispatcher_db: Engine, log: pytest.LogCaptureFixture
) -> None:
    """stop() while the dispatcher waits for the store (an hour between tries): the run ends
    without waiting it out, says in one line that the held result was not recorded, and the
    lease makes the delivery due again later."""
    world.subscribe("shop", "https://shop.example/hook")
    world.notify()
    fault = Fault(dispatcher_db)
    gate = Gate()
    waiting = threading.Event()

    async def sleep(seconds: float) -> None:
        waiting.set()
        await asyncio.Event().wait()  # only stop() ends this wait

    dispatcher = _dispatcher(
        world, dispatcher_db, gate, sleep, store_retry_first=3600.0, store_retry_max=3600.0
    )
    thread = threading.Thread(target=lambda: asyncio.run(dispatcher.run()))
    thread.start()
    try:
        _until(lambda: len(gate.received) == 1, "the request in flight")
        fault.on = True
        gate.open.set()
        _until(lambda: dispatcher.stats.attempts == 1 and waiting.is_set(), "held, waiting")
        dispatcher.stop()
    finally:
        gate.open.set()
        thread.join(timeout=30)
    assert not thread.is_alive()
    messages = [r.getMessage() for r in log.records if r.levelno >= logging.WARNING]
    assert messages[0].startswith("the database cannot be used")
    assert messages[1:] == [
        "1 attempt results were not recorded: the database did not answer before the stop; "
        "those deliveries are sent again once their leases run out"
    ]
    delivery = world.delivery()
    assert (delivery.status, delivery.attempts, delivery.leased_by) == (
        "pending",
        1,
        "outlasting",
    )


def test_a_run_once_ends_when_the_store_stops_answering(
    world: World, dispatcher_db: Engine, log: pytest.LogCaptureFixture
) -> None:
    """`deliver --once` does not wait for the store: the run ends with the outage's one line,
    claims nothing, and the dispatcher says the store is down (the command then exits 1)."""
    world.subscribe("shop", "https://shop.example/hook")
    world.notify()
    Fault(dispatcher_db).on = True
    gate = Gate()

    async def sleep(seconds: float) -> None:
        raise AssertionError("a run once never waits for the store")

    dispatcher = _dispatcher(world, dispatcher_db, gate, sleep)
    stats = asyncio.run(dispatcher.run(once=True))
    assert (stats.attempts, dispatcher.cut_short, gate.received) == (0, True, [])
    assert _events(log) == ["store unavailable"]


@pytest.mark.postgres
def test_the_listener_warns_once_per_outage_and_says_when_it_listens_again(
    pg_url: str, log: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL goes away under a listening dispatcher (its link cut) and comes back: one
    warning however many tries fail, one line when it listens again, and a wake for what was
    queued meanwhile (before, a warning every 5 s for as long as the server was away)."""
    tries: list[str] = []
    real_connect = psycopg.connect

    def connect(*args: Any, **kwargs: Any) -> Any:
        tries.append("try")
        return real_connect(*args, **kwargs)

    monkeypatch.setattr(psycopg, "connect", connect)  # listen imports it when it runs
    url = make_url(pg_url)
    wakes: list[str] = []
    with Proxy((url.host or "127.0.0.1", url.port or 5432)) as proxy:
        db = create_engine(url.set(port=proxy.port))
        listener = Listener(
            db, lambda: wakes.append("wake"), check_every=0.05, retry_first=0.01, retry_max=0.05
        ).start()
        try:
            _until(listener.listening.is_set, "listening")
            proxy.cut()
            _until(lambda: not listener.listening.is_set(), "the link lost")
            before = len(tries)
            _until(lambda: len(tries) >= before + 5, "five tries while it is away")
            woken = len(wakes)
            proxy.restore()
            _until(lambda: listener.listening.is_set() and len(wakes) > woken, "back, woken")
        finally:
            listener.stop()
            db.dispose()
    lines = [(r.levelno, r.getMessage()) for r in log.records if r.name == listen.logger.name]
    assert [level for level, _ in lines] == [logging.WARNING, logging.INFO]
    assert lines[0][1].startswith("listening for new deliveries failed (")
    assert lines[1][1] == "listening for new deliveries again"
