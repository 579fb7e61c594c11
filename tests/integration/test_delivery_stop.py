"""A stopped dispatcher records every request it had in flight, whenever each one ends."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Awaitable, Callable

import httpx

from deltahook.delivery.dispatcher import Dispatcher, DispatcherOptions
from deltahook.delivery.sender import Sender
from tests.delivery_support import World


def _until(condition: object, what: str) -> None:
    """Wait for ``condition()`` (a cross-thread hand-off, not a timing assertion)."""
    assert callable(condition)
    for _ in range(3000):
        if condition():
            return
        time.sleep(0.01)
    raise AssertionError(f"never happened: {what}")


def _dispatcher(
    world: World, worker: str, answer: Callable[[httpx.Request], Awaitable[httpx.Response]]
) -> Dispatcher:
    """A dispatcher of ``world`` whose requests ``answer`` answers."""
    return Dispatcher(
        world.db,
        options=DispatcherOptions(worker_id=worker, listen=False),
        sender=Sender(transport=httpx.MockTransport(answer)),
        clock=world.clock,
        jitter=lambda: 0.0,
    )


def test_stop_records_a_request_in_flight_that_ends_after_the_first_was_recorded(
    world: World,
) -> None:
    """stop() with two requests in flight: the one answered after the other's result was
    written is recorded too (delivered once), not left to be sent again when its lease ends."""
    world.subscribe("shop", "https://shop.example/hook", max_concurrency=2)
    world.notify(2)
    gates = [threading.Event(), threading.Event()]
    order = itertools.count()
    arrived: list[int] = []

    async def answer(request: httpx.Request) -> httpx.Response:
        number = next(order)
        arrived.append(number)
        await asyncio.to_thread(gates[number].wait)
        return httpx.Response(200)

    dispatcher = _dispatcher(world, "stopping", answer)
    thread = threading.Thread(target=lambda: asyncio.run(dispatcher.run()))
    thread.start()
    try:
        _until(lambda: len(arrived) == 2, "both requests in flight")
        dispatcher.stop()
        gates[0].set()
        _until(lambda: len(world.attempts()) == 1, "the first answer recorded")
        gates[1].set()
    finally:
        for gate in gates:
            gate.set()
        thread.join(timeout=30)
    assert not thread.is_alive()
    assert len(world.attempts()) == 2
    assert [(d.status, d.leased_by) for d in world.deliveries()] == [("delivered", None)] * 2


def test_a_dispatcher_delivers_again_on_its_second_run_once(world: World) -> None:
    """run(once=True) twice on one dispatcher: each run delivers what is due then, and
    counts only its own attempts (the first run's end does not stop the second)."""
    world.subscribe("shop", "https://shop.example/hook")
    sent: list[str] = []

    async def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request.headers["Norce-Event-Message-Id"])
        return httpx.Response(200)

    dispatcher = _dispatcher(world, "twice", answer)

    async def twice() -> tuple[int, int]:
        first = await dispatcher.run(once=True)
        world.notify(2)
        second = await dispatcher.run(once=True)
        return first.snapshot()["attempts"], second.snapshot()["attempts"]

    world.notify(1)
    assert asyncio.run(twice()) == (1, 2)
    assert len(sent) == 3
    assert {row.status for row in world.deliveries()} == {"delivered"}


def test_a_dispatcher_runs_again_under_a_new_event_loop(world: World) -> None:
    """Two ``asyncio.run`` calls on one dispatcher, each with a lane busier than its slots:
    the second run delivers too (a lane's slots are not tied to the first run's loop)."""
    world.subscribe("shop", "https://shop.example/hook", max_concurrency=1)
    sent: list[str] = []

    async def answer(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0)  # let the next claim wait for the lane's one slot
        sent.append(request.headers["Norce-Event-Message-Id"])
        return httpx.Response(200)

    dispatcher = _dispatcher(world, "loops", answer)
    world.notify(3)
    first = asyncio.run(dispatcher.run(once=True))
    world.notify(3)
    second = asyncio.run(dispatcher.run(once=True))
    assert (first.snapshot()["attempts"], second.snapshot()["attempts"]) == (3, 3)
    assert len(set(sent)) == 6
    assert {row.status for row in world.deliveries()} == {"delivered"}
