"""A finished ingest ends its process without the interpreter's teardown, and loses nothing:
its output is written, its exit handlers run, its exit code and its store are what they were."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from deltahook.results import JobStatus
from deltahook.store import jobs
from deltahook.store.db import open_engine
from tests.api_support import ndjson, stock_rows
from tests.conftest import REPO

# `deltahook ARGS` as the script runs it, with an object freed only by the teardown and an
# exit handler, each saying so on standard error.
SCRIPT = """
import atexit, sys

class FreedAtTeardown:
    def __del__(self):
        sys.stderr.write("teardown ran\\n")

kept = FreedAtTeardown()
atexit.register(sys.stderr.write, "exit handler ran\\n")
sys.argv = ["deltahook", *sys.argv[1:]]
from deltahook.cli import run
run()
"""


def deltahook(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``deltahook ARGS`` in a fresh process whose standard output is a buffered pipe."""
    env = {name: value for name, value in os.environ.items() if name != "PYTHONUNBUFFERED"}
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, "--database-url", url, *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def stock_feed(tmp_path: Path, *, bad_line: bool = False) -> Path:
    feed = tmp_path / "stock.ndjson"
    feed.write_bytes(ndjson(stock_rows(30)) + (b'{"PartNo": \n' if bad_line else b""))
    return feed


def the_job(tmp_path: Path) -> dict[str, object]:
    db = open_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    try:
        with db.connect() as conn:
            (found,) = jobs.recent(conn)
    finally:
        db.dispose()
    return found


@pytest.mark.parametrize(
    ("options", "last_line"),
    [
        ((), "sku_onhand (upsert): received 30"),  # the summary a person reads
        (("--json",), "}"),  # one JSON document, indented
        (("--changes",), '{"summary":'),  # JSON lines, the summary last
    ],
)
def test_a_finished_ingest_skips_the_teardown_and_keeps_its_output(
    tmp_path: Path, options: tuple[str, ...], last_line: str
) -> None:
    """Every line of output reaches the pipe, the exit handler runs, the teardown does not,
    and the job is stored as finished."""
    done = deltahook(tmp_path, "ingest", "sku_onhand", str(stock_feed(tmp_path)), *options)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1].startswith(last_line), done.stdout
    assert "exit handler ran" in done.stderr
    assert "teardown ran" not in done.stderr
    job = the_job(tmp_path)
    assert job["status"] == JobStatus.SUCCEEDED
    assert job["counts"] == job["counts"] | {"received": 30, "inserted": 30}  # type: ignore[operator]


def test_a_finished_ingest_keeps_its_exit_code_and_its_rejects(tmp_path: Path) -> None:
    """A rejected record: exit code 3, the reject on standard error, still no teardown."""
    done = deltahook(tmp_path, "ingest", "sku_onhand", str(stock_feed(tmp_path, bad_line=True)))
    assert done.returncode == 3, done.stderr
    assert "rejected 1" in done.stdout
    assert "line 31" in done.stderr
    assert "teardown ran" not in done.stderr
    assert the_job(tmp_path)["status"] == JobStatus.VALIDATION_FAILED


def test_an_ingest_that_fails_ends_as_usual(tmp_path: Path) -> None:
    """A user's mistake (an unknown kind) is one line and exit code 1, through the usual exit."""
    done = deltahook(tmp_path, "ingest", "no_such_kind", str(stock_feed(tmp_path)))
    assert done.returncode == 1
    assert "no_such_kind" in done.stderr
    assert "Traceback" not in done.stderr
    assert "teardown ran" in done.stderr


def test_other_commands_end_as_usual(tmp_path: Path) -> None:
    """A command that does not say it finished (here `rules check`) is torn down as before."""
    done = deltahook(tmp_path, "rules", "check")
    assert done.returncode == 0, done.stderr
    assert "exit handler ran" in done.stderr
    assert "teardown ran" in done.stderr


def test_python_m_deltahook_runs_the_same_entry_point(tmp_path: Path) -> None:
    """`python -m deltahook ingest` prints its summary through a buffered pipe and exits 0."""
    env = {name: value for name, value in os.environ.items() if name != "PYTHONUNBUFFERED"}
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    ingest = ["ingest", "sku_onhand", str(stock_feed(tmp_path)), "--json"]
    done = subprocess.run(
        [sys.executable, "-m", "deltahook", "--database-url", url, *ingest],
        cwd=REPO,
        env=env,
        capture_output=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert orjson.loads(done.stdout)["counts"]["inserted"] == 30
