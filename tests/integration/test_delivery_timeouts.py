"""Timeouts and lanes: a hanging endpoint times out and never holds up another subscription."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from deltahook.delivery.receiver import Receiver
from tests.delivery_support import T0, World

FOREVER = 3600.0
"""A hang that only ``release()`` (or closing the receiver) ends."""


@pytest.fixture
def slow() -> Iterator[Receiver]:
    with Receiver() as server:
        yield server


@pytest.fixture
def fast() -> Iterator[Receiver]:
    with Receiver() as server:
        yield server


def test_a_hanging_endpoint_never_holds_up_another(
    world: World, slow: Receiver, fast: Receiver
) -> None:
    """While slow's first request hangs (until released), fast's 20 are all answered."""
    world.subscribe("slow", slow.url, timeout=30, max_concurrency=1, event_types=["Slow"])
    world.subscribe("fast", fast.url, event_types=["Fast"])
    slow.hang(FOREVER, times=2)
    world.notify(2, type="Slow")
    world.notify(20, type="Fast")
    run = threading.Thread(target=world.run)
    run.start()
    try:
        fast.wait_for(20)
        fast.wait_answered(20)
        assert (len(slow.requests), slow.answered) == (1, 0)  # still on its first attempt
    finally:
        slow.release()
        run.join(timeout=60)
    assert not run.is_alive()
    assert {d.status for d in world.deliveries()} == {"delivered"}


def test_a_hanging_endpoint_times_out_and_is_retried(world: World, slow: Receiver) -> None:
    """Two attempts that hang for good time out one after the other (the lane holds one at
    a time): the run ends with nothing answered, each attempt retried on the schedule."""
    world.subscribe("slow", slow.url, timeout=0.5, max_concurrency=1)
    slow.hang(FOREVER, times=2)
    world.notify(2)
    stats = world.run()
    assert (stats.attempts, stats.retrying) == (2, 2)
    assert (len(slow.requests), slow.answered) == (2, 0)
    for delivery in world.deliveries():
        assert (delivery.status, delivery.next_attempt_at) == (
            "retrying",
            T0 + timedelta(seconds=5),
        )
        [attempt] = world.attempts(delivery.id)
        assert attempt.error == "timed out after 0.5 s"
        assert attempt.duration_ms >= 450  # a timeout never ends an attempt early
        assert attempt.status_code is None

    slow.release()
    world.advance(5)
    assert world.run().delivered == 2
    first, second = sorted(slow.requests, key=lambda r: r.message_id or "")[:2]
    assert first.message_id == second.message_id


def test_concurrency_per_subscription_is_bounded(world: World, fast: Receiver) -> None:
    """max_concurrency 2 with 6 slow-ish answers: never more than two in the receiver at once."""
    world.subscribe("shop", fast.url, max_concurrency=2)
    fast.hang(0.3, times=6)
    world.notify(6)
    assert world.run().delivered == 6
    assert fast.most_in_flight == 2


def test_a_live_slow_attempt_is_not_claimed_twice(world: World, slow: Receiver) -> None:
    """While one dispatcher waits on a slow answer, a second one finds nothing to do."""
    world.subscribe("shop", slow.url, timeout=5)
    world.notify()
    slow.hang(5.0)
    first = threading.Thread(target=world.run)
    first.start()
    slow.wait_for(1)
    assert world.run(worker="second").attempts == 0
    slow.release()
    first.join(timeout=10)
    assert not first.is_alive()
    assert len(slow.requests) == 1
    assert world.delivery().status == "delivered"


@pytest.mark.slow
def test_the_default_timeout_is_5_seconds(tmp_path: Path, slow: Receiver) -> None:
    """A receiver that never answers: with the default settings the attempt ends at 5 s."""
    world = World(f"sqlite:///{tmp_path / 'd.db'}")
    world.subscribe("shop", slow.url)
    slow.hang(FOREVER)
    world.notify()
    world.run()
    assert slow.answered == 0
    [attempt] = world.attempts()
    assert attempt.error == "timed out after 5 s"
    assert attempt.duration_ms >= 4900
    assert world.delivery().status == "retrying"
    world.close()
