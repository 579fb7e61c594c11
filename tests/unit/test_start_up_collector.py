"""The cyclic collector is paused while a command starts and on again when it does its work."""

from __future__ import annotations

import gc
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from deltahook import gcpolicy
from tests.conftest import REPO


@pytest.fixture
def collector() -> Iterator[None]:
    """The collector as the test found it, afterwards."""
    enabled = gc.isenabled()
    yield
    gcpolicy._paused = False
    gc.unfreeze()
    if enabled:
        gc.enable()
    else:
        gc.disable()


def test_a_pause_ends_with_what_was_built_frozen_and_the_collector_on(collector: None) -> None:
    """After a pause the collector is on again and what was built meanwhile is frozen."""
    gc.enable()
    gcpolicy.pause()
    assert not gc.isenabled()
    built = [[]]  # a container made during the pause
    gcpolicy.resume()
    assert gc.isenabled()
    assert gc.get_freeze_count() > 0
    assert gc.is_tracked(built)


def test_a_collector_switched_off_by_someone_else_stays_off(collector: None) -> None:
    """A collector switched off before the pause is not switched on by its end."""
    gc.disable()
    with gcpolicy.starting():
        pass
    assert not gc.isenabled()
    gcpolicy.resume()
    assert not gc.isenabled()


SCRIPT = """
import gc, sys
from deltahook import gcpolicy
from deltahook import pipeline
from deltahook.cli.app import main

seen = []  # whether the collector was on as the feed began
real = pipeline.collected_between_batches
pipeline.collected_between_batches = lambda: (seen.append(gc.isenabled()), real())[1]
gcpolicy.pause()  # as run() does
main(sys.argv[1:], standalone_mode=False)
print(seen, gc.isenabled())
"""


def test_an_ingest_started_by_the_cli_feeds_and_ends_with_the_collector_on(
    tmp_path: Path,
) -> None:
    """The pause of ``run`` ends before the command runs; the ingest's own, once its engine is
    built: the feed is read with the collector on (and collecting between batches)."""
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    feed = tmp_path / "sku_onhand.ndjson"
    stock = {"PartNo": "P1", "WarehouseCode": "STO", "WarehouseId": 3, "LocationCode": "A-12"}
    feed.write_bytes(orjson.dumps(stock | {"LocationId": 7, "OnhandValue": 5, "MinimumValue": 3}))
    args = ["--database-url", url, "ingest", "sku_onhand", str(feed), "--json"]
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip().splitlines()[-1] == "[True] True"
