"""Rule semantics on a real store (each database): exact decimals, boundaries, re-arm state."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from deltahook.config import Settings
from deltahook.engine import Engine
from deltahook.store.tables import rule_state
from tests.integration.test_rules_ingest import BREAKPOINT, ingest, ndjson, of_type, stock

STOCK_RULE = """\
format_version: 1
rules:
  - notification: SkuOnHandBreakPointNotification
    settings:
      - id: low
        table: tClientProductSkuOnHand
        breakpoint: {{field: OnhandValue, threshold: MinimumValue, {extra}}}
        payload:
          PartNo: row.PartNo
          WarehouseId: row.WarehouseId
          LocationId: row.LocationId
          OnHandValue: new.OnhandValue
          MinimumValue: new.MinimumValue
"""


def engine_with(database_url: str, tmp_path: Path, rule: str) -> Engine:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "rule.yaml").write_text(rule)
    return Engine.from_settings(Settings(database_url=database_url, rules_dir=rules, batch_size=2))


@pytest.fixture
def banded(database_url: str, tmp_path: Path) -> Iterator[Engine]:
    """The stock breakpoint with minimum MinimumValue and a re-arm band of 2."""
    with engine_with(database_url, tmp_path, STOCK_RULE.format(extra="rearm_band: 2")) as engine:
        yield engine


def fired(engine: Engine, rows: list[dict[str, Any]]) -> list[Any]:
    return [
        n.payload["OnHandValue"] for n in of_type(ingest(engine, "sku_onhand", rows), BREAKPOINT)
    ]


def test_a_row_first_seen_below_its_minimum_does_not_fire_inside_the_band(banded: Engine) -> None:
    """2 (first sight) -> 4 (inside 3 + 2) -> 2 fires nothing: the row was never armed."""
    assert [fired(banded, [stock("P1", v)]) for v in (2, 4, 2)] == [[], [], []]
    with banded.db.connect() as conn:
        states = conn.execute(select(rule_state.c.rule, rule_state.c.state)).all()
    assert [tuple(s) for s in states] == [(f"{BREAKPOINT}/low", "fired")]


def test_a_row_first_seen_above_the_band_fires_once_on_its_way_down(banded: Engine) -> None:
    """7 -> 4 -> 2 with minimum 3 and band 2 fires once, at 2."""
    assert [fired(banded, [stock("P2", v)]) for v in (7, 4, 2)] == [[], [], [2]]


def test_preview_agrees_with_ingest_inside_the_band(banded: Engine) -> None:
    """Preview of the drop back to 2 fires nothing, like the ingest after it."""
    fired(banded, [stock("P3", 2)])
    fired(banded, [stock("P3", 4)])
    preview = banded.preview("sku_onhand", ndjson([stock("P3", 2)]), fmt="ndjson", explain=True)
    assert of_type(preview, BREAKPOINT) == []
    (miss,) = preview.near_misses
    assert miss["detail"]["state"] == "fired -> fired"
    assert fired(banded, [stock("P3", 2)]) == []
