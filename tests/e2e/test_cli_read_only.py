"""`deltahook serve` on a SQLite store it cannot write (opened read-only with a `file:` URI: the
tests run as root, whom file permissions do not stop)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from tests.api_support import AUTH, KEY
from tests.conftest import REPO

UNWRITABLE = (
    "the database cannot be written (attempt to write a readonly database): open it read-write "
    "(not mode=ro or immutable) and make its file and folder writable"
)
ENV = {**os.environ, "DELTAHOOK_API_KEYS": KEY}


def _deltahook(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "deltahook", *args]
    return subprocess.run(
        command, cwd=REPO, env=ENV, capture_output=True, text=True, timeout=60, check=False
    )


def _store(tmp_path: Path) -> Path:
    """A store with its schema, written as usual."""
    path = tmp_path / "db.sqlite"
    assert _deltahook("--database-url", f"sqlite:///{path}", "db", "upgrade").returncode == 0
    return path


def test_serve_on_a_read_only_store_without_its_schema_is_one_line_and_exit_1(
    tmp_path: Path,
) -> None:
    """The schema must be made at start (an empty file) and cannot be: one line naming the
    store and SQLite's reason, exit 1."""
    path = tmp_path / "db.sqlite"
    path.touch()
    url = f"sqlite:///file:{path}?mode=ro&uri=true"
    done = _deltahook("--database-url", url, "serve", "--port", "0", "--no-deliver")
    assert done.returncode == 1
    shown = f"sqlite:///file%3A{path}?mode=ro&uri=true"
    assert done.stderr == f"error: cannot make the schema at {shown}: {UNWRITABLE}\n"


def test_serve_delivering_on_a_read_only_store_is_one_line_and_exit_1(tmp_path: Path) -> None:
    """The in-process dispatcher writes the store (heartbeats, claims): serving it read-only
    and delivering is refused in one line that says to serve with --no-deliver, exit 1 (it
    was uvicorn's traceback of the failed startup)."""
    url = f"sqlite:///file:{_store(tmp_path)}?mode=ro&uri=true"
    done = _deltahook("--database-url", url, "serve", "--port", "0")
    assert done.returncode == 1
    assert done.stderr == (
        f"error: {UNWRITABLE}; the dispatcher in this process writes it (serve --no-deliver "
        "does not)\n"
    )


def test_serve_reads_a_read_only_store_named_by_a_relative_uri_and_refuses_writes(
    tmp_path: Path,
) -> None:
    """`serve --no-deliver` with a config naming its store by a relative read-only URI (read
    from the config's folder; it was joined whole, making an empty writable store under
    a 'file:' folder): reads answer 200, a write 503 with SQLite's reason, SIGTERM ends it."""
    _store(tmp_path)
    config = tmp_path / "deltahook.yaml"
    config.write_text("database_url: 'sqlite:///file:db.sqlite?mode=ro&uri=true'\n")
    command = [sys.executable, "-m", "deltahook", "--config", str(config)]
    command += ["serve", "--port", "0", "--no-deliver"]
    with subprocess.Popen(command, cwd=REPO, env=ENV, stderr=subprocess.PIPE, text=True) as process:
        assert process.stderr is not None
        base = process.stderr.readline().split()[5]  # serving the deltahook API on <base> ...
        for line in process.stderr:
            if "Application startup complete" in line:
                break
        with httpx.Client(base_url=base, headers=AUTH) as http:
            read = http.get("/v1/subscriptions")
            subscription = {"name": "new", "url": "https://new.example/", "event_types": ["*"]}
            write = http.post("/v1/subscriptions", json=subscription)
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=60)
    assert (read.status_code, read.json()) == (200, [])
    assert (write.status_code, write.json()["message"]) == (503, UNWRITABLE)
    assert process.returncode == 0
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("db.sqlite")) == [
        "deltahook.yaml"
    ]
