"""Timeouts and lanes: a hanging endpoint times out and never holds up another subscription."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from deltahook.delivery.receiver import Receiver
from tests.delivery_support import T0, World


@pytest.fixture
def slow() -> Iterator[Receiver]:
    with Receiver() as server:
        yield server


@pytest.fixture
def fast() -> Iterator[Receiver]:
    with Receiver() as server:
        yield server


def test_a_hanging_endpoint_times_out_while_another_goes_through(
    world: World, slow: Receiver, fast: Receiver
) -> None:
    """Slow hangs 2 s (timeout 0.5 s): its attempts time out and retry; fast is served at once."""
    world.subscribe("slow", slow.url, timeout=0.5, max_concurrency=1, event_types=["Slow"])
    world.subscribe("fast", fast.url, event_types=["Fast"])
    slow.hang(2.0, times=2)
    world.notify(2, type="Slow")
    world.notify(20, type="Fast")

    started = time.monotonic()
    stats = world.run()
    took = time.monotonic() - started

    assert (stats.delivered, stats.retrying) == (20, 2)
    assert 1.0 <= took < 2.0  # two timeouts in a row in the slow lane, nothing waits for 2 s
    assert max(r.at for r in fast.requests) - started < 0.4  # before the first timeout ends
    for delivery in (d for d in world.deliveries() if d.subscription == "slow"):
        assert (delivery.status, delivery.next_attempt_at) == (
            "retrying",
            T0 + timedelta(seconds=5),
        )
        [attempt] = world.attempts(delivery.id)
        assert attempt.error == "timed out after 0.5 s"
        assert 450 <= attempt.duration_ms < 1000
        assert attempt.status_code is None

    world.advance(5)
    assert world.run().delivered == 2
    assert len(slow.requests) == 4
    first, second = sorted(slow.requests, key=lambda r: r.message_id or "")[:2]
    assert first.message_id == second.message_id


def test_concurrency_per_subscription_is_bounded(world: World, fast: Receiver) -> None:
    """max_concurrency 2 with 6 slow-ish answers: requests arrive two at a time."""
    world.subscribe("shop", fast.url, max_concurrency=2)
    fast.hang(0.3, times=6)
    world.notify(6)
    world.run()
    arrivals = sorted(r.at for r in fast.requests)
    assert len(arrivals) == 6
    for i in range(len(arrivals) - 2):
        assert arrivals[i + 2] - arrivals[i] > 0.2  # never three within one answer's time


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
    assert len(slow.requests) == 1
    assert world.delivery().status == "delivered"


@pytest.mark.slow
def test_the_default_timeout_is_5_seconds(tmp_path: Path, slow: Receiver) -> None:
    """A receiver that hangs 10 s: with the default settings the attempt ends after 5 s."""
    world = World(f"sqlite:///{tmp_path / 'd.db'}")
    world.subscribe("shop", slow.url)
    slow.hang(10.0)
    world.notify()
    started = time.monotonic()
    world.run()
    assert 4.9 <= time.monotonic() - started < 7
    [attempt] = world.attempts()
    assert attempt.error == "timed out after 5 s"
    assert world.delivery().status == "retrying"
    world.close()
