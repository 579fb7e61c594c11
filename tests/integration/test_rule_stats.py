"""`deltahook rules stats`: per setting, the notifications it fired in the last day and week and
the fields that triggered them, read from the stored explanations."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from deltahook.cli import main
from deltahook.config import Settings
from deltahook.engine import Engine
from deltahook.rulestats import setting_stats
from tests.clocks import MovableClock
from tests.integration.test_change_log import T0
from tests.integration.test_rules_ingest import ingest


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock(T0)


@pytest.fixture
def engine(database_url: str, clock: MovableClock) -> Iterator[Engine]:
    with Engine.from_settings(Settings(database_url=database_url), clock=clock) as engine:
        yield engine


def sku(status: int, ean: str = "7310000000001") -> dict[str, object]:
    return {"PartNo": "P1", "StatusId": status, "EanCode": ean}


def test_counts_by_day_and_week_with_the_triggering_fields(
    engine: Engine, clock: MovableClock
) -> None:
    """A change 8 days ago counts for neither, 3 days ago for the week, 1 hour ago for both;
    the fields are those of the matches of that setting."""
    ingest(engine, "sku", [sku(1)])
    clock.now = T0 + timedelta(days=1)
    ingest(engine, "sku", [sku(2)])  # 8 days before "now"
    clock.now = T0 + timedelta(days=6)
    ingest(engine, "sku", [sku(3, "7310000000002")])
    clock.now = T0 + timedelta(days=9)
    ingest(engine, "sku", [sku(4)])
    now = T0 + timedelta(days=9, hours=1)
    with engine.db.connect() as conn:
        stats = {s.setting: s for s in setting_stats(conn, now=now)}
    sku_stats = stats["SkuChangedNotification/sku"]
    assert (sku_stats.day, sku_stats.week) == (1, 2)
    assert sku_stats.fields == {"StatusId": 2, "EanCode": 2}


def test_the_command_prints_json(tmp_path: Path) -> None:
    """`rules stats --json` lists each setting that fired with its counts and fields."""
    db = f"sqlite:///{tmp_path / 'db.sqlite'}"
    feed = tmp_path / "sku.ndjson"
    feed.write_bytes(orjson.dumps(sku(1)) + b"\n")
    runner = CliRunner()
    assert runner.invoke(main, ["--database-url", db, "ingest", "sku", str(feed)]).exit_code == 0
    result = runner.invoke(main, ["--database-url", db, "rules", "stats", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["setting"]: row for row in orjson.loads(result.stdout)}
    assert rows["SkuChangedNotification/sku"]["day"] == 1
    assert rows["SkuChangedNotification/sku"]["week"] == 1
