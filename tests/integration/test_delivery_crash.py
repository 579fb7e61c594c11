"""At least once: a killed dispatcher loses nothing, a stopped one finishes, several share work."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from deltahook.clock import utc_now
from deltahook.delivery.receiver import Receiver
from tests.delivery_support import World


@pytest.fixture
def world(database_url: str) -> Iterator[World]:
    w = World(database_url, now=utc_now())
    yield w
    w.close()


def start_dispatcher(tmp_path: Path, database_url: str, url: str) -> subprocess.Popen[bytes]:
    """``deltahook deliver`` in its own process, with a config declaring one subscription."""
    config = tmp_path / "deltahook.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "allow_private_urls": True,  # the receiver listens on loopback
                "subscriptions": [{"name": "shop", "url": url, "event_types": ["*"]}],
            }
        )
    )
    command = [sys.executable, "-m", "deltahook", "--config", str(config)]
    command += ["--database-url", database_url, "deliver", "--worker-id", "doomed"]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def test_a_dispatcher_killed_mid_request_loses_nothing(
    tmp_path: Path, database_url: str, world: World, receiver: Receiver
) -> None:
    """SIGKILL while the receiver holds the request; after the lease ends a new one retries it."""
    world.subscribe("shop", receiver.url)
    [note] = world.notify()
    receiver.hang(60)
    process = start_dispatcher(tmp_path, database_url, receiver.url)
    try:
        receiver.wait_for(1, timeout=30)
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.communicate(timeout=10)

    claimed = world.delivery()
    assert (claimed.leased_by, claimed.status, claimed.attempts) == ("doomed", "pending", 1)
    world.now = utc_now()
    assert world.run(worker="early").attempts == 0  # the lease still runs: no double send

    receiver.release()
    world.now = claimed.lease_until + timedelta(seconds=1)
    assert world.run(worker="rescuer").delivered == 1

    assert [r.message_id for r in receiver.requests] == [note.id, note.id]
    delivery = world.delivery()
    assert (delivery.status, delivery.attempts, delivery.leased_by) == ("delivered", 2, None)
    lost, retried = world.attempts(delivery.id)
    assert (lost.number, lost.worker, lost.status_code) == (1, "doomed", None)
    assert "stopped before recording" in lost.error
    assert (retried.number, retried.worker, retried.status_code) == (2, "rescuer", 200)


def test_the_lease_outlasts_the_request_timeout(world: World, receiver: Receiver) -> None:
    """A claim's lease is longer than the attempt it covers (timeout 5 s -> 45 s)."""
    world.subscribe("shop", receiver.url)
    world.notify()
    receiver.hang(60)
    thread = threading.Thread(target=world.run)
    thread.start()
    receiver.wait_for(1)
    leased = world.delivery()
    receiver.release()
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert leased.lease_until - world.now == timedelta(seconds=45)


def test_sigterm_finishes_the_request_in_flight_then_exits(
    tmp_path: Path, database_url: str, world: World, receiver: Receiver
) -> None:
    """SIGTERM mid-request: the answer is awaited and recorded, then the process exits 0."""
    world.subscribe("shop", receiver.url)
    world.notify()
    receiver.hang(1.0)
    process = start_dispatcher(tmp_path, database_url, receiver.url)
    receiver.wait_for(1, timeout=30)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=20)
    assert process.returncode == 0, stderr.decode()
    assert "1 delivered" in stderr.decode()
    delivery = world.delivery()
    assert (delivery.status, delivery.attempts, delivery.leased_by) == ("delivered", 1, None)
    assert len(receiver.requests) == 1


def test_three_dispatchers_share_the_work_and_attempt_each_delivery_once(
    world: World, receiver: Receiver
) -> None:
    """Three dispatchers at once over 300 deliveries: every one arrives exactly once."""
    world.subscribe("shop", receiver.url, max_concurrency=20)
    notes = world.notify(300)
    threads = [threading.Thread(target=world.run, kwargs={"worker": f"w{n}"}) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    seen = Counter(r.message_id for r in receiver.requests)
    assert seen == Counter({n.id: 1 for n in notes})
    assert {d.status for d in world.deliveries()} == {"delivered"}
    assert len(world.attempts()) == 300
