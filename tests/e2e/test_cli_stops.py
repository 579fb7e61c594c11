"""Stop requests (SIGINT, SIGTERM) to the long-running commands, ``deliver`` and ``serve``:
recorded from the process's first moment, honoured once the dispatcher (or uvicorn) runs, and
always an orderly end with exit 0."""

from __future__ import annotations

import asyncio
import os
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
from tests.api_support import AUTH, KEY
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
elif moment == "starting uvicorn":
    from deltahook.api import server

    real_run = server.Server.run

    def run_server(self, *args, **kwargs):
        os.kill(os.getpid(), sig)
        return real_run(self, *args, **kwargs)

    server.Server.run = run_server

from deltahook.cli import run

sys.argv = ["deltahook", *sys.argv[3:]]
run()
"""


def project(tmp_path: Path, world: World, receiver: Receiver) -> list[str]:
    """A config file with one subscription, "shop", to ``receiver``; the global options that
    run a command on it and ``world``'s database."""
    config = tmp_path / "deltahook.yaml"
    shop = {"name": "shop", "url": receiver.url, "event_types": ["*"]}
    config.write_text(yaml.safe_dump({"allow_private_urls": True, "subscriptions": [shop]}))
    return ["--config", str(config), "--database-url", str(world.db.url)]


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
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, moment, sig, *project(tmp_path, world, receiver), "deliver"],
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


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_stopped_finishes_its_request_and_delivery_in_flight_and_exits_0(
    tmp_path: Path, world: World, receiver: Receiver, sig: signal.Signals
) -> None:
    """SIGTERM (systemd, Kubernetes) or SIGINT while `serve` holds an API request and a
    delivery in flight: the request is answered, the delivery recorded as delivered, the
    dispatcher's summary written, and the process exits 0 (SIGTERM ended it with 143)."""
    world.subscribe("shop", receiver.url)
    world.notify()
    receiver.hang(60, times=2)  # the delivery, and the test send the API request makes
    command = [sys.executable, "-m", "deltahook", *project(tmp_path, world, receiver)]
    command += ["serve", "--port", "0"]
    environment = {**os.environ, "DELTAHOOK_API_KEYS": KEY}
    answers: list[httpx.Response] = []
    with subprocess.Popen(command, env=environment, stderr=subprocess.PIPE, text=True) as process:
        assert process.stderr is not None
        base = process.stderr.readline().split()[5]  # serving the deltahook API on <base> ...
        for line in process.stderr:
            if "Application startup complete" in line:
                break

        def send_a_test_event() -> None:
            with httpx.Client(base_url=base, headers=AUTH, timeout=60) as http:
                answers.append(http.post("/v1/subscriptions/shop/test"))

        request = threading.Thread(target=send_a_test_event)
        request.start()
        receiver.wait_for(2, timeout=30)  # both in flight
        process.send_signal(sig)
        for line in process.stderr:
            if "Shutting down" in line:  # stopping, with both still held
                break
        receiver.release()
        request.join()
        _, rest = process.communicate(timeout=60)
    assert process.returncode == 0, rest
    [answer] = answers
    assert (answer.status_code, answer.json()["succeeded"]) == (200, True)
    assert " info 1 attempts: 1 delivered, 0 to retry, 0 dead " in rest, rest
    assert "Traceback" not in rest
    delivery = world.delivery()
    assert (delivery.status, delivery.attempts, delivery.leased_by) == ("delivered", 1, None)


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT"])
def test_serve_stopped_while_it_opens_the_store_ends_before_serving_with_exit_0(
    tmp_path: Path, world: World, receiver: Receiver, sig: str
) -> None:
    """A stop while `serve` makes its app (the store opened, migrations run) ends it before it
    listens or delivers, in one line: exit 0, no traceback (SIGTERM killed it with 143, SIGINT
    left a traceback)."""
    world.subscribe("shop", receiver.url)
    world.notify()
    done = _serve_signalled(tmp_path, world, receiver, "opening the store", sig)
    assert (done.returncode, done.stderr) == (
        0,
        "stopped before serving: a stop was requested while it started\n",
    )
    assert receiver.requests == []


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT"])
def test_serve_stopped_as_uvicorn_starts_shuts_down_once_started_with_exit_0(
    tmp_path: Path, world: World, receiver: Receiver, sig: str
) -> None:
    """A stop after the app was made but before uvicorn's own signal handlers are in place:
    uvicorn is told and shuts down as soon as it has started, with exit 0 and no traceback
    (it served on, the request left unheard)."""
    done = _serve_signalled(tmp_path, world, receiver, "starting uvicorn", sig)
    assert (done.returncode, "Traceback" in done.stderr) == (0, False), done.stderr
    startup = done.stderr.index("Application startup complete")
    assert done.stderr.index("Application shutdown complete") > startup


def _serve_signalled(
    tmp_path: Path, world: World, receiver: Receiver, moment: str, sig: str
) -> subprocess.CompletedProcess[str]:
    """`serve` on ``world``'s store, sent ``sig`` by itself at ``moment``."""
    args = [*project(tmp_path, world, receiver), "serve", "--port", "0"]
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, moment, sig, *args],
        cwd=REPO,
        env={**os.environ, "DELTAHOOK_API_KEYS": KEY},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
