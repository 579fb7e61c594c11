"""Four dispatcher processes over one PostgreSQL database share 2,000 deliveries."""

from __future__ import annotations

import signal
import time
from collections import Counter, defaultdict
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from deltahook.clock import utc_now
from deltahook.delivery.receiver import Receiver
from deltahook.delivery.status import QUEUED
from tests.delivery_support import World
from tests.scale_support import deltahook, named, wait_gone, wait_until, write_config

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

DISPATCHERS = 4
UPFRONT, LATER, CHUNK = 1_000, 1_000, 100


def attempts_by_delivery(world: World) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = defaultdict(list)
    for attempt in world.attempts():
        found[attempt.delivery_id].append(attempt)
    return found


def test_four_dispatchers_attempt_each_delivery_once_and_a_killed_one_repeats_only_its_own(
    tmp_path: Path, pg_url: str, receiver: Receiver
) -> None:
    """2,000 deliveries, four ``deltahook deliver`` processes, one SIGKILLed mid-run.

    Every delivery arrives. Each delivery the survivors or the victim (before it died)
    finished was attempted once and received once; the only repeats are deliveries the killed
    process held when it died, retried once after their lease ran out.
    """
    world = World(pg_url, now=utc_now())
    world.subscribe("shop", receiver.url)
    config = write_config(tmp_path / "deltahook.yaml", receiver_url=receiver.url)
    notes = world.notify(UPFRONT)
    workers = [f"d{n}" for n in range(DISPATCHERS)]
    processes = {
        w: deltahook(config, named(pg_url, w), "deliver", "--worker-id", w) for w in workers
    }
    try:
        for _ in range(LATER // CHUNK):  # committed while they run: NOTIFY wakes them
            notes += world.notify(CHUNK)
            time.sleep(0.05)
        victim = workers[-1]
        wait_until(
            lambda: (
                sum(a.worker == victim for a in world.attempts()) >= 20
                and len(receiver.requests) >= 600
            ),
            timeout=60,
            what=f"{victim} to have delivered some",
        )
        processes[victim].send_signal(signal.SIGKILL)
        processes[victim].communicate(timeout=10)
        wait_gone(world.db, victim)
        held = {d.id: d for d in world.deliveries() if d.leased_by == victim and d.status in QUEUED}
        wait_until(
            lambda: (
                sum(d.status == "delivered" for d in world.deliveries()) == len(notes) - len(held)
            ),
            timeout=120,
            what="the survivors to deliver the rest",
        )
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        results = {w: p.communicate(timeout=30) for w, p in processes.items()}
    for worker in workers[:-1]:
        assert processes[worker].returncode == 0, results[worker][1].decode()

    world.now = max(d.lease_until for d in held.values()) + timedelta(seconds=1)
    assert world.run(worker="rescuer").delivered == len(held)

    assert {d.status for d in world.deliveries()} == {"delivered"}
    by_delivery = attempts_by_delivery(world)
    assert len(by_delivery) == len(notes) == UPFRONT + LATER
    for delivery_id, tried in by_delivery.items():
        if delivery_id in held:
            lost, retried = tried  # the victim's attempt, logged as lost; the rescuer's
            assert (lost.number, lost.worker, lost.status_code) == (1, victim, None)
            assert (retried.number, retried.worker, retried.status_code) == (2, "rescuer", 200)
        else:
            [once] = tried
            assert (once.number, once.status_code) == (1, 200)
    assert {a.worker for a in world.attempts()} >= set(workers)  # all four shared the work

    received = Counter(r.message_id for r in receiver.requests)
    assert set(received) == {n.id for n in notes}
    held_messages = {d.notification_id for d in held.values()}
    repeated = {message for message, times in received.items() if times > 1}
    assert repeated <= held_messages
    assert all(received[m] <= 2 for m in held_messages)
    world.close()
