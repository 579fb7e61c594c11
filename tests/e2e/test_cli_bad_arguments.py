"""Arguments a command cannot use are one line and a non-zero exit, never a traceback."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

LATIN1 = os.fsdecode(b"v\xe9rde")  # what Python makes of the bytes: 'v\udce9rde'


@pytest.mark.parametrize(
    "args",
    [
        ("show", "sku", LATIN1),
        ("resend", LATIN1),
        ("recover", LATIN1, "--since", "1h"),
        ("subscriptions", "enable", LATIN1),
        ("log", "--subscription", LATIN1),
        ("deliver", "--once", "--worker-id", LATIN1),
    ],
    ids=["show", "resend", "recover", "enable", "log", "deliver"],
)
def test_an_argument_that_is_not_utf8_is_one_line(tmp_path: Path, args: tuple[str, ...]) -> None:
    """Bytes that are not UTF-8 (a shell on a Latin-1 system): each names the argument and
    says why (each was a UnicodeEncodeError traceback from the
    store's driver)."""
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    done = subprocess.run(
        [sys.executable, "-m", "deltahook", "--database-url", url, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip() == (
        "error: 'v\\udce9rde' holds bytes that are not UTF-8: deltahook takes text as UTF-8 only"
    )


def test_the_receiver_on_a_port_it_cannot_have_is_one_line() -> None:
    """A port taken: exit 1 and one line (an OSError traceback); past 65535: a usage error
    (an OverflowError traceback)."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "deltahook", "receiver", "--port", str(port)],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=False,
        )
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith(f"Error: cannot listen on 127.0.0.1:{port}: [Errno 98]")
    assert "Traceback" not in done.stderr
    beyond = subprocess.run(
        [sys.executable, "-m", "deltahook", "receiver", "--port", "99999"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert beyond.returncode == 2, beyond.stderr
    assert "99999 is not in the range 0<=x<=65535" in beyond.stderr


@pytest.mark.parametrize("host", ["127.0.0.1", "no-such-host.invalid"], ids=["taken", "unknown"])
def test_serve_where_it_cannot_listen_is_one_line_and_exit_1(tmp_path: Path, host: str) -> None:
    """`serve` on a port taken or a host that does not resolve: one line and exit 1, before it
    announces anything (it said "serving the deltahook API on ...", then uvicorn's ERROR
    line, and exited 3, the code for rejected records)."""
    environment = {**os.environ, "DELTAHOOK_API_KEYS": "k" * 32}
    command = [sys.executable, "-m", "deltahook", "--database-url", f"sqlite:///{tmp_path}/db"]
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [*command, "serve", "--host", host, "--port", str(port), "--no-deliver"],
            cwd=REPO,
            env=environment,
            capture_output=True,
            text=True,
            check=False,
        )
    assert done.returncode == 1, done.stderr
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"Error: cannot listen on {host}:{port}: [Errno "), line


def test_the_receiver_on_port_0_listens_on_a_free_port() -> None:
    """`receiver --port 0` listens on a port the system picks and says which (as Receiver()
    does); the range check that refuses 99999 must not refuse it."""
    line = _first_line([sys.executable, "-m", "deltahook", "receiver", "--port", "0"])
    assert line.startswith("listening on http://127.0.0.1:"), line
    assert not line.startswith("listening on http://127.0.0.1:0/")


def test_serve_on_the_empty_host_listens_on_every_interface(tmp_path: Path) -> None:
    """`serve --host ''` is every interface, as uvicorn (asyncio) took it before serve bound
    its sockets itself; it said 'cannot listen on :0: Name or service not known'."""
    environment = {**os.environ, "DELTAHOOK_API_KEYS": "k" * 32}
    command = [sys.executable, "-m", "deltahook", "--database-url", f"sqlite:///{tmp_path}/db"]
    line = _first_line(
        [*command, "serve", "--host", "", "--port", "0", "--no-deliver"], environment
    )
    assert line.startswith("serving the deltahook API on http://"), line


def _first_line(command: list[str], environment: dict[str, str] | None = None) -> str:
    """The first line a long-running command writes to standard error; then it is stopped
    (SIGINT, as Ctrl-C)."""
    with subprocess.Popen(
        command, cwd=REPO, env=environment, stderr=subprocess.PIPE, text=True
    ) as started:
        assert started.stderr is not None
        line = started.stderr.readline()
        started.send_signal(signal.SIGINT)
        started.communicate()
    return line


@pytest.mark.parametrize(
    "worker",
    [
        "w" * 65,  # past the 64 characters a lease and a heartbeat hold
        "w\x1b[2J",  # a control character, printed by status and the log
    ],
)
def test_a_worker_id_the_store_cannot_keep_is_one_line(tmp_path: Path, worker: str) -> None:
    """On PostgreSQL a longer name failed every heartbeat and claim (a traceback logged each
    time, nothing sent); it is refused before the dispatcher starts."""
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    args = ("--database-url", url, "deliver", "--once", "--worker-id", worker)
    done = subprocess.run(
        [sys.executable, "-m", "deltahook", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert (done.returncode, done.stderr) == (
        1,
        "error: --worker-id is a name of 1 to 64 printable characters\n",
    )


@pytest.mark.parametrize("url", ["", "  "])
def test_an_empty_database_url_is_refused_not_replaced_by_the_default(
    tmp_path: Path, url: str
) -> None:
    """`--database-url ''` (a variable that was not set, say) is a usage error naming the
    option; it was taken as not given, and the default store in the working folder used."""
    done = subprocess.run(
        [sys.executable, "-m", "deltahook", "--database-url", url, "status"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip().endswith(
        "Error: Invalid value for '--database-url': is empty: give one such as "
        "sqlite:///deltahook.db"
    )
    assert not (tmp_path / ".deltahook").exists()
