"""A stop request (SIGINT, SIGTERM) reaching ``deltahook deliver`` while it starts: the
process records it from its first moment and stops in order once its dispatcher runs."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from deltahook.cli.app import _command
from deltahook.cli.delivery import _run
from deltahook.clock import utc_now
from deltahook.delivery.dispatcher import Dispatcher, DispatcherOptions
from deltahook.delivery.receiver import Receiver
from deltahook.delivery.sender import Sender
from tests.conftest import REPO
from tests.delivery_support import World

# The process signals itself at a chosen moment of its start, so the moment is certain.
SCRIPT = """
import os, signal, sys

moment, sig = sys.argv[1], getattr(signal, sys.argv[2])


class SignalOnImport:
    def find_spec(self, name, path=None, target=None):
        if name == "sqlalchemy":  # the deliver command's module is being imported
            sys.meta_path.remove(self)
            os.kill(os.getpid(), sig)
        return None


if moment == "importing":
    sys.meta_path.insert(0, SignalOnImport())
elif moment == "opening the store":
    from deltahook import bootstrap

    real = bootstrap.open_store

    def open_store(*args, **kwargs):
        os.kill(os.getpid(), sig)
        return real(*args, **kwargs)

    bootstrap.open_store = open_store

from deltahook.cli import run

sys.argv = ["deltahook", *sys.argv[3:]]
run()
"""


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(f"sqlite:///{tmp_path / 'db.sqlite'}", now=utc_now())
    yield w
    w.close()


@pytest.mark.parametrize("moment", ["importing", "opening the store"])
@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT"])
def test_a_stop_requested_while_deliver_starts_ends_it_in_order(
    tmp_path: Path, world: World, receiver: Receiver, moment: str, sig: str
) -> None:
    """A signal while `deliver` imports its modules or opens the store: no traceback, nothing
    claimed or sent, the stopping and summary lines, exit 0 (SIGTERM killed it with 143,
    SIGINT ended it with a KeyboardInterrupt traceback)."""
    world.subscribe("shop", receiver.url)
    world.notify()
    config = tmp_path / "deltahook.yaml"
    shop = {"name": "shop", "url": receiver.url, "event_types": ["*"]}
    config.write_text(yaml.safe_dump({"allow_private_urls": True, "subscriptions": [shop]}))
    args = ["--config", str(config), "--database-url", str(world.db.url), "deliver"]
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, moment, sig, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, "Traceback" in done.stderr) == (0, False), done.stderr
    lines = done.stderr.splitlines()
    assert lines[0].startswith("delivering as ")
    assert lines[1] == "stopping: finishing the requests in flight (again to abandon them)"
    assert lines[2].endswith(
        "0 attempts: 0 delivered, 0 to retry, 0 dead attempts=0 delivered=0 retrying=0 dead=0"
        f" elapsed_s={lines[2].rpartition('=')[2]}"
    )
    assert len(lines) == 3, lines
    delivery = world.delivery()
    assert (delivery.status, delivery.attempts, delivery.leased_by) == ("pending", 0, None)
    assert receiver.requests == []


def test_an_ingest_still_ends_at_once_on_sigterm(tmp_path: Path) -> None:
    """Only the long-running commands hold a stop request back: any other ends at a SIGTERM,
    as it always did, rather than running on with the request recorded and never honoured."""
    feed = tmp_path / "stock.ndjson"
    feed.write_text("")
    args = ["--database-url", f"sqlite:///{tmp_path / 'db.sqlite'}", "ingest", "sku_onhand"]
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, "opening the store", "SIGTERM", *args, str(feed)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == -signal.SIGTERM, done.stderr


@pytest.mark.parametrize(
    ("args", "command"),
    [
        (["deliver"], "deliver"),
        (["--config", "deliver", "serve"], "serve"),  # a file named deliver is no command
        (["--config=c.yaml", "--database-url", "sqlite://", "deliver", "--once"], "deliver"),
        (["--", "serve"], "serve"),
        (["ingest", "sku", "deliver"], "ingest"),  # a feed named deliver is no command
        (["--version"], None),
        (["--database-url"], None),  # click says the value is missing
    ],
)
def test_the_command_is_found_as_the_group_parses_its_options(
    args: list[str], command: str | None
) -> None:
    """The command whose stop requests are recorded from the start is the one click will
    run: the first word that is neither a group option nor such an option's value."""
    assert _command(args) == command


def test_a_signal_taken_by_another_thread_wakes_the_idle_dispatcher(world: World) -> None:
    """The kernel may hand SIGTERM to any thread of the process: one taken by a helper thread
    wakes the dispatcher waiting in its loop (here for an hour between polls, with no socket
    open), which stops and returns what it delivered. Python runs a signal's handler in the
    main thread only once that thread runs Python again, not while its loop waits in select."""
    world.subscribe("shop", "https://shop.example/")
    world.notify()

    async def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200)

    dispatcher = Dispatcher(
        world.db,
        options=DispatcherOptions(
            worker_id="w", poll_min=3600.0, poll_max=3600.0, listen=False, allow_private=True
        ),
        sender=Sender(transport=httpx.MockTransport(answer)),
        clock=world.clock,
    )
    nudged: list[bool] = []
    ended = threading.Event()

    def idle() -> bool:
        """Delivered, and the main thread (the dispatcher's loop) waits in ``select``."""
        frame = sys._current_frames().get(threading.main_thread().ident or 0)
        waiting = frame is not None and frame.f_code.co_name == "select"
        return waiting and world.delivery().status == "delivered"

    def signal_from_this_thread() -> None:
        for _ in range(3000):  # hand-offs between threads, not timing assertions
            if idle():
                break
            time.sleep(0.01)
        signal.pthread_kill(threading.get_ident(), signal.SIGTERM)
        if not ended.wait(timeout=30):
            nudged.append(True)  # the signal did not wake it: end the test rather than wait
            dispatcher.stop()

    helper = threading.Thread(target=signal_from_this_thread)
    helper.start()
    stats = asyncio.run(_run(dispatcher, once=False, log_format="text"))
    ended.set()
    helper.join()
    assert (stats.delivered, nudged) == (1, [])
