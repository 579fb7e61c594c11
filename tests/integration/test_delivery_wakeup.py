"""New work is picked up by a running, idle dispatcher: woken by NOTIFY on PostgreSQL."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from deltahook.clock import utc_now
from deltahook.delivery import queue
from deltahook.delivery.receiver import Receiver
from tests.delivery_support import World


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as server:
        yield server


class Trace:
    """What happened, in order, across threads: wakes, finished claims, commits, requests."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self._changed = threading.Condition()

    def add(self, event: str) -> None:
        with self._changed:
            self.events.append(event)
            self._changed.notify_all()

    def wait(self, done: Callable[[list[str]], bool]) -> None:
        with self._changed:
            assert self._changed.wait_for(lambda: done(self.events), timeout=30), self.events

    def after(self, event: str) -> list[str]:
        return self.events[self.events.index(event) :]


def idle(events: list[str]) -> bool:
    """A claim has finished after the listener's first wake (or, with no listener, at all)."""
    start = events.index("wake") if "wake" in events else 0
    return "claim" in events[start:]


def test_an_idle_dispatcher_picks_up_a_new_delivery(
    database_url: str, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Committed while the dispatcher idles: sent. On PostgreSQL the dispatcher polls only
    every 30 s, and the request follows a wake that came after the commit: NOTIFY's."""
    postgres = database_url.startswith("postgresql")
    world = World(database_url, now=utc_now())
    world.subscribe("shop", receiver.url)
    slow_poll = {"poll_min": 30.0, "poll_max_listening": 30.0}
    dispatcher = world.dispatcher(**(slow_poll if postgres else {}))
    trace = Trace()
    claim, wake = queue.claim, dispatcher.wake

    def traced_claim(*args: Any, **kwargs: Any) -> list[queue.Claimed]:
        claimed = claim(*args, **kwargs)
        trace.add("claim")
        return claimed

    def traced_wake() -> None:
        trace.add("wake")
        wake()

    monkeypatch.setattr(queue, "claim", traced_claim)
    monkeypatch.setattr(dispatcher, "wake", traced_wake)
    receiver.on_request = lambda _: trace.add("request")
    thread = threading.Thread(target=lambda: asyncio.run(dispatcher.run()))
    thread.start()
    try:
        trace.wait(lambda events: ("wake" in events or not postgres) and idle(events))
        trace.add("commit")
        [note] = world.notify()
        [request] = receiver.wait_for(1, timeout=30)
        assert request.message_id == note.id
        after = trace.after("commit")
        if postgres:
            assert "wake" in after[: after.index("request")], after
    finally:
        dispatcher.stop()
        thread.join(timeout=10)
    assert not thread.is_alive()
    assert world.delivery().status == "delivered"
    world.close()
