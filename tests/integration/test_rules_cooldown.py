"""A setting's cooldown on a real store (each database): fire once per entity per period."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from deltahook.config import Settings
from deltahook.engine import Engine
from deltahook.rules.explain import miss_text
from deltahook.store.tables import rule_state
from tests.clocks import MovableClock
from tests.integration.test_rules_ingest import ingest, ndjson, of_type, price

T0 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
PRICE = "SkuPriceChangedNotification"
PRICE_RULE = """\
format_version: 1
rules:
  - notification: SkuPriceChangedNotification
    settings:
      - id: sale-price
        table: tClientProductSkuPriceList
        on: [insert, update]
        watch: [PriceSale]
{extra}
        payload:
          PartNo: row.PartNo
          PricelistId: row.PricelistId
          PricelistCode: row.PriceListCode
          PriceSaleValue: new.PriceSale
          QuantityBreak: row.QuantityBreak
"""


def engine_with(database_url: str, tmp_path: Path, extra: str, clock: MovableClock) -> Engine:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "rule.yaml").write_text(PRICE_RULE.format(extra=extra))
    settings = Settings(database_url=database_url, rules_dir=rules, batch_size=2)
    return Engine.from_settings(settings, clock=clock)


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock(T0)


@pytest.fixture
def cooled(database_url: str, tmp_path: Path, clock: MovableClock) -> Iterator[Engine]:
    with engine_with(database_url, tmp_path, "        cooldown: 10m", clock) as engine:
        yield engine


def sent(engine: Engine, clock: MovableClock, minute: int, sale: float) -> list[Any]:
    clock.now = T0 + timedelta(minutes=minute)
    result = ingest(engine, "sku_price", [price("P1", sale)])
    held = "1 firing(s) suppressed by a setting's cooldown"
    assert (held in result.notices) == (not of_type(result, PRICE))  # counted when suppressed
    return [n.payload["PriceSaleValue"] for n in of_type(result, PRICE)]


def test_changes_inside_the_cooldown_fire_once_and_after_it_again(
    cooled: Engine, clock: MovableClock
) -> None:
    """Changes at 0, 4 and 9 minutes fire once; the change at 12 minutes fires again."""
    fired = [sent(cooled, clock, m, s) for m, s in ((0, 10), (4, 11), (9, 12), (12, 13))]
    assert fired == [[10], [], [], [13]]


def test_a_suppressed_change_is_explained_and_preview_agrees_writing_nothing(
    cooled: Engine, clock: MovableClock
) -> None:
    """Preview inside the cooldown says 'cooldown until T', like the ingest, and stores nothing."""
    sent(cooled, clock, 0, 10)
    clock.now = T0 + timedelta(minutes=3)
    with cooled.db.connect() as conn:
        before = conn.execute(select(rule_state.c.state)).scalars().all()
    preview = cooled.preview("sku_price", ndjson([price("P1", 11)]), fmt="ndjson", explain=True)
    assert of_type(preview, PRICE) == []
    (miss,) = preview.near_misses
    assert miss_text(miss) == "cooldown until 2026-11-30T08:10:00+00:00"
    with cooled.db.connect() as conn:
        assert conn.execute(select(rule_state.c.state)).scalars().all() == before
    clock.now = T0 + timedelta(minutes=10)
    preview = cooled.preview("sku_price", ndjson([price("P1", 11)]), fmt="ndjson")
    assert [n.payload["PriceSaleValue"] for n in of_type(preview, PRICE)] == [11]
    with cooled.db.connect() as conn:
        assert conn.execute(select(func.count()).select_from(rule_state)).scalar_one() == 1


def test_without_a_cooldown_every_change_fires(
    database_url: str, tmp_path: Path, clock: MovableClock
) -> None:
    """Off by default: the same setting without ``cooldown`` fires on each change."""
    with engine_with(database_url, tmp_path, "", clock) as engine:
        fired = [sent(engine, clock, m, s) for m, s in ((0, 10), (4, 11), (9, 12))]
    assert fired == [[10], [11], [12]]
