"""A command started with a standard stream closed (``<&-``, ``>&-``) says so in one line, or
does its work: never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.api_support import ndjson, stock_rows
from tests.conftest import REPO


def deltahook(tmp_path: Path, redirect: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m deltahook ARGS`` run by sh with ``redirect`` (``<&-``: standard input
    closed) and its own SQLite file."""
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    script = f'"$0" -m deltahook "$@" {redirect}'
    return subprocess.run(
        ["sh", "-c", script, sys.executable, "--database-url", url, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )


def test_ingest_of_standard_input_that_is_closed_is_one_line(tmp_path: Path) -> None:
    """`ingest KIND -` with standard input closed: exit 1 and one line saying so (it was an
    AttributeError traceback), and no job is started."""
    done = deltahook(tmp_path, "<&-", "ingest", "sku_onhand", "-", "--format", "ndjson")
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.strip() == (
        "error: standard input is closed: pipe the feed in, or name its file"
    )


def test_a_command_with_standard_output_closed_does_its_work(tmp_path: Path) -> None:
    """`ingest ... --json >&-`: the feed is stored and the exit code is the ingest's; what
    would have been printed is dropped (it was an AttributeError traceback at start, exit 1,
    before the feed was read)."""
    feed = tmp_path / "stock.ndjson"
    feed.write_bytes(ndjson(stock_rows(3)))
    done = deltahook(tmp_path, ">&-", "ingest", "sku_onhand", str(feed), "--json")
    assert (done.returncode, done.stderr) == (0, "")
    shown = deltahook(tmp_path, "", "show", "sku_onhand", "P-000002|STHLM-DC|B2")
    assert shown.returncode == 0, shown.stderr


def test_emit_of_standard_input_that_is_closed_is_one_line(tmp_path: Path) -> None:
    """`emit TYPE -` with standard input closed: exit 1 and one line saying so (it was an
    AttributeError traceback), and nothing is recorded."""
    done = deltahook(tmp_path, "<&-", "emit", "TestEvent", "-")
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip() == (
        "error: standard input is closed: pipe the JSON in, or name its file"
    )


def test_preview_pair_of_standard_input_that_is_closed_is_one_line(tmp_path: Path) -> None:
    """`preview KIND --after -` reads its object as emit does: with standard input closed,
    the same one line and exit 1."""
    done = deltahook(tmp_path, "<&-", "preview", "sku_onhand", "--after", "-")
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip() == (
        "error: standard input is closed: pipe the JSON in, or name its file"
    )
