"""New work is picked up at once by a running, idle dispatcher: by NOTIFY on PostgreSQL."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import pytest

from deltahook.clock import utc_now
from deltahook.delivery.receiver import Receiver
from tests.delivery_support import World


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as server:
        yield server


def test_an_idle_dispatcher_picks_up_a_new_delivery_at_once(
    database_url: str, receiver: Receiver
) -> None:
    """Committed while the dispatcher idles: sent within 0.3 s.

    On PostgreSQL the dispatcher is set to poll only every 30 s, so only the NOTIFY sent with
    the commit can have woken it; SQLite relies on its 50 ms poll.
    """
    world = World(database_url, now=utc_now())
    world.subscribe("shop", receiver.url)
    slow_poll = {"poll_min": 30.0, "poll_max_listening": 30.0}
    dispatcher = world.dispatcher(**(slow_poll if database_url.startswith("postgresql") else {}))
    thread = threading.Thread(target=lambda: asyncio.run(dispatcher.run()))
    thread.start()
    try:
        time.sleep(1.0)  # started, listening, idle
        committed = time.monotonic()
        [note] = world.notify()
        [request] = receiver.wait_for(1, timeout=5)
        assert request.message_id == note.id
        assert request.at - committed < 0.3
    finally:
        dispatcher.stop()
        thread.join(timeout=10)
    assert not thread.is_alive()
    assert world.delivery().status == "delivered"
    world.close()
