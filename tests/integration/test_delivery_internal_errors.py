"""An error of our own inside an attempt (building, signing, the HTTP layer) fails that attempt
with its reason, follows the retry schedule and leaves the other deliveries flowing."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from datetime import timedelta
from types import SimpleNamespace
from typing import cast

import httpx
import orjson
import pytest

from deltahook.api.app import in_process
from deltahook.delivery import heartbeat, journal
from deltahook.delivery.attempts import RunStats
from deltahook.delivery.dispatcher import Dispatcher, DispatcherOptions
from deltahook.delivery.listen import Listener
from deltahook.delivery.receiver import Receiver
from deltahook.delivery.recorder import Recorder
from deltahook.delivery.sender import Sender
from deltahook.engine import Engine
from deltahook.notifications import Notification
from deltahook.store import outbox
from deltahook.store.db import open_engine
from tests.delivery_support import SECRET, T0, World

TOKEN = "Bearer tok-5f1e-9a7c-41d2-b3e8-0c6f"


def _answer(request: httpx.Request) -> httpx.Response:
    """The healthy host answers 200; the broken one trips an error the sender does not map,
    echoing the request's token into its message."""
    if request.url.host == "broken.example":
        raise RuntimeError(f"boom while sending with {request.headers.get('authorization')}")
    return httpx.Response(200)


def _run(world: World, *, jitter: float | None = 0.0) -> RunStats:
    """One ``--once`` step with the fake transport; ``jitter=None`` makes the jitter draw fail."""

    def draw() -> float:
        if jitter is None:
            raise ZeroDivisionError("a bug in the jitter source")
        return jitter

    dispatcher = Dispatcher(
        world.db,
        options=DispatcherOptions(worker_id="test-worker", listen=False),
        sender=Sender(transport=httpx.MockTransport(_answer)),
        clock=world.clock,
        jitter=draw,
    )
    return asyncio.run(dispatcher.run(once=True))


def _notification(event_id: str) -> Notification:
    """A notification with the event id ``event_id``, as an ingest would store it."""
    return Notification(
        id=event_id,
        type="SkuChangedNotification",
        family="notification",
        payload={"ClientId": 1042, "PartNo": "P-1"},
        created_at=T0,
    )


def _journal(caplog: pytest.LogCaptureFixture) -> list[dict[str, object]]:
    formatter = journal.JsonFormatter()
    return [
        orjson.loads(formatter.format(r)) for r in caplog.records if r.name == journal.outcomes.name
    ]


def test_an_unexpected_error_fails_the_attempt_with_its_reason_and_the_rest_flows(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """A RuntimeError inside one subscription's send is that delivery's failed attempt: logged
    with type and message (its token blanked), the claim released, a retry scheduled by the
    schedule; the healthy subscription's delivery arrives in the same run."""
    caplog.set_level(logging.INFO, logger=journal.outcomes.name)
    world.subscribe("broken", "https://broken.example/hook", headers={"Authorization": TOKEN})
    world.subscribe("shop", "https://shop.example/hook")
    [note] = world.notify(1)

    stats = _run(world)

    assert (stats.attempts, stats.delivered, stats.retrying) == (2, 1, 1)
    assert world.delivery("shop").status == "delivered"
    broken = world.delivery("broken")
    assert (broken.status, broken.leased_by, broken.attempts) == ("retrying", None, 1)
    assert broken.next_attempt_at.replace(tzinfo=T0.tzinfo) == T0 + timedelta(seconds=5)
    [attempt] = world.attempts(broken.id)
    assert attempt.status_code is None
    assert attempt.error.startswith("internal error: RuntimeError: boom while sending with ")
    assert "tok-5f1e" not in attempt.error
    assert "[redacted]" in attempt.error
    [line] = _journal(caplog)
    assert (line["event"], line["subscription"], line["message_id"]) == (
        "internal error",
        "broken",
        note.id,
    )
    assert line["error"] == attempt.error
    assert line["next_attempt_at"] == "2026-11-24T10:00:05+00:00"
    assert "tok-5f1e" not in orjson.dumps(line).decode()


def test_an_internal_error_on_the_last_attempt_makes_the_delivery_dead(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """A local error is not retried forever: once the schedule is spent the delivery is dead,
    like any other failure, and the journal says so at warning level."""
    caplog.set_level(logging.INFO, logger=journal.outcomes.name)
    world.subscribe("broken", "https://broken.example/hook", retry_schedule="1s")
    world.notify(1)
    _run(world)
    world.advance(1)
    caplog.clear()

    stats = _run(world)

    assert stats.dead == 1
    delivery = world.delivery()
    assert (delivery.status, delivery.attempts, delivery.leased_by) == ("dead", 2, None)
    [line] = _journal(caplog)
    assert (line["event"], line["level"], line["next_attempt_at"]) == (
        "internal error",
        "error",
        None,
    )


def test_an_internal_error_leaves_the_endpoint_health_alone(world: World) -> None:
    """Our own error says nothing about the endpoint: it counts no failure toward its circuit."""
    world.subscribe("broken", "https://broken.example/hook")
    world.notify(1)
    _run(world)
    assert world.stored("broken").health.failures == 0


def test_a_request_that_cannot_be_built_leaves_the_endpoint_health_alone(world: World) -> None:
    """An event id that cannot be signed (a '.' in it) fails the attempt with its reason and
    follows the retry schedule, but says nothing about the endpoint: no failure is counted, so
    even a circuit that opens after one failure stays closed and the subscription stays on."""
    world.subscribe("signed", "https://shop.example/hook", secrets=[SECRET], circuit_after=1)
    with world.db.begin() as conn:
        outbox.record(conn, [_notification("evt.1")], now=world.now)

    stats = _run(world)

    assert (stats.attempts, stats.retrying) == (1, 1)
    delivery = world.delivery("signed")
    assert (delivery.status, delivery.leased_by, delivery.attempts) == ("retrying", None, 1)
    assert delivery.next_attempt_at.replace(tzinfo=T0.tzinfo) == T0 + timedelta(seconds=5)
    [attempt] = world.attempts(delivery.id)
    assert attempt.error.startswith("cannot build the request: a message id must be")
    stored = world.stored("signed")
    assert (stored.health.failures, stored.health.circuit_until) == (0, None)
    assert stored.enabled


def test_an_error_after_the_send_is_logged_and_the_lease_brings_the_delivery_back(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """A bug while recording an attempt's end (here the jitter source) is logged with its
    traceback rather than dropped with the task; the run still ends, the healthy delivery is
    recorded, and once the lease runs out the delivery is attempted again."""
    caplog.set_level(logging.INFO)
    world.subscribe("broken", "https://broken.example/hook")
    world.subscribe("shop", "https://shop.example/hook")
    world.notify(1)

    stats = _run(world, jitter=None)

    assert stats.delivered == 1
    assert world.delivery("shop").status == "delivered"
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.name for r in errors] == ["deltahook.delivery"]
    assert errors[0].exc_info is not None
    assert errors[0].exc_info[0] is ZeroDivisionError
    assert "broken" in errors[0].getMessage()
    held = world.delivery("broken")
    assert (held.status, held.leased_by) == ("pending", "test-worker")

    world.now = held.lease_until.replace(tzinfo=T0.tzinfo) + timedelta(seconds=1)
    assert _run(world).attempts == 1
    lost, again = world.attempts(held.id)
    assert "stopped before recording" in lost.error
    assert again.error.startswith("internal error: RuntimeError")


def test_a_recorder_that_dies_stops_the_dispatcher_loudly(
    world: World, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A recorder task that raises is not left dead while the dispatcher sends on unrecorded:
    it is logged as critical, the dispatcher stops, leaves its heartbeat and ``run`` raises."""
    caplog.set_level(logging.INFO)

    async def broken(self: Recorder) -> None:
        raise RuntimeError("a bug in the recorder")

    monkeypatch.setattr(Recorder, "_flush", broken)
    world.subscribe("shop", "https://shop.example/hook")
    world.notify(1)
    dispatcher = Dispatcher(
        world.db,
        options=DispatcherOptions(worker_id="test-worker", listen=False),
        sender=Sender(transport=httpx.MockTransport(_answer)),
        clock=world.clock,
        jitter=lambda: 0.0,
    )
    failures: list[BaseException] = []

    def serve() -> None:
        try:
            asyncio.run(dispatcher.run())  # not --once: only the dead recorder can end it
        except BaseException as exc:
            failures.append(exc)

    thread = threading.Thread(target=serve)
    thread.start()
    thread.join(timeout=60)  # a safety net against a hang, not a timing assertion
    if thread.is_alive():
        dispatcher.stop()
        thread.join()
        raise AssertionError("the dispatcher ran on with a dead recorder")
    assert [str(exc) for exc in failures] == ["a bug in the recorder"]
    [critical] = [r for r in caplog.records if r.levelno == logging.CRITICAL]
    assert critical.name == "deltahook.delivery"
    assert critical.exc_info is not None
    with world.db.connect() as conn:
        assert heartbeat.liveness(conn, now=world.now).alive == 0


def test_a_dispatcher_that_dies_inside_the_server_is_logged_at_once(
    world: World,
    receiver: Receiver,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``serve``'s in-process dispatcher dying is a critical line while the server still runs,
    not an exception kept in its task until shutdown."""
    caplog.set_level(logging.INFO)

    async def broken(self: Recorder) -> None:
        raise RuntimeError("a bug in the recorder")

    monkeypatch.setattr(Recorder, "_flush", broken)
    world.subscribe("shop", receiver.url)
    world.notify(1)
    engine = cast(Engine, SimpleNamespace(db=world.db, clock=world.clock))
    options = DispatcherOptions(worker_id="in-process", listen=False, allow_private=True)

    def reported() -> bool:
        return any(r.name == "deltahook.api" for r in caplog.records)

    async def serving() -> bool:
        async with in_process(engine, options):
            for _ in range(3000):  # a hand-off between tasks, not a timing assertion
                if reported():
                    return True
                await asyncio.sleep(0.01)
            return False

    with pytest.raises(RuntimeError, match="a bug in the recorder"):
        asyncio.run(serving())
    [critical] = [r for r in caplog.records if r.name == "deltahook.api"]
    assert critical.levelno == logging.CRITICAL
    assert critical.exc_info is not None


@pytest.mark.postgres
def test_a_listener_that_trips_on_a_bug_logs_it_and_keeps_its_thread(
    pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """An error other than the database's in the LISTEN thread (here the wake-up callback) is
    logged with its traceback and the thread goes on (polling meanwhile); it used to end the
    thread with a line on stderr only."""
    caplog.set_level(logging.INFO)

    def wake() -> None:
        raise RuntimeError("a bug in wake")

    db = open_engine(pg_url)
    listener = Listener(db, wake).start()
    try:
        for _ in range(3000):  # a cross-thread hand-off, not a timing assertion
            if any(r.name == "deltahook.delivery" for r in caplog.records):
                break
            time.sleep(0.01)
        alive = [t for t in threading.enumerate() if t.name == "deltahook-listen"]
    finally:
        listener.stop()
        db.dispose()
    [error] = [r for r in caplog.records if r.name == "deltahook.delivery"]
    assert error.levelno == logging.ERROR
    assert error.exc_info is not None
    assert error.exc_info[0] is RuntimeError
    assert alive
