"""Rule semantics on a real store (each database): exact decimals, boundaries, re-arm state."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from deltahook.config import Settings
from deltahook.engine import Engine
from deltahook.rules.explain import miss_text
from deltahook.store.tables import rule_state
from tests.conftest import REPO
from tests.integration.test_rules_ingest import BREAKPOINT, ingest, ndjson, of_type, price, stock

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


PRICE_RULE = """\
format_version: 1
rules:
  - notification: SkuPriceChangedNotification
    settings:
      - id: moves
        table: tClientProductSkuPriceList
        on: [update]
        watch: [PriceSale]
        threshold: {{field: PriceSale, {amount}}}
        payload:
          PartNo: row.PartNo
          PricelistId: row.PricelistId
          PriceSaleValue: new.PriceSale
"""


def price_moves(engine: Engine, old: float, new: float) -> list[Any]:
    """Store a price at ``old``, then what ingesting ``new`` notifies."""
    ingest(engine, "sku_price", [price("T1", old)])
    result = ingest(engine, "sku_price", [price("T1", new)])
    return [n.payload["PriceSaleValue"] for n in result.notifications]


@pytest.mark.parametrize(
    ("amount", "old", "new", "notified"),
    [
        ("pct: 1", 10.00, 9.90, [9.9]),  # exactly 1%: 0.99999...% in binary floats
        ("abs: 0.2", 0.3, 0.1, [0.1]),  # exactly 0.2: 0.19999... in binary floats
        ("pct: 5", 100, 105, [105]),  # inclusive by default: at least 5%
        ("pct: 5, boundary: strict", 100, 105, []),  # strict: more than 5%
        ("pct: 5, boundary: strict", 100, 105.01, [105.01]),
    ],
)
def test_price_thresholds_compare_the_written_decimals(
    database_url: str, tmp_path: Path, amount: str, old: float, new: float, notified: list[Any]
) -> None:
    """Ingest notifies a move of exactly the amount, unless the threshold is strict."""
    rule = PRICE_RULE.format(amount=amount)
    with engine_with(database_url, tmp_path, rule) as engine:
        assert price_moves(engine, old, new) == notified


def test_explanations_say_which_boundary_a_threshold_used(
    database_url: str, tmp_path: Path
) -> None:
    """A strict 5% threshold explains 100 -> 105 as moving no more than 5%; preview agrees."""
    rule = PRICE_RULE.format(amount="pct: 5, boundary: strict")
    with engine_with(database_url, tmp_path, rule) as engine:
        ingest(engine, "sku_price", [price("T2", 100)])
        feed = ndjson([price("T2", 105)])
        preview = engine.preview("sku_price", feed, fmt="ndjson", explain=True)
        (miss,) = preview.near_misses
        assert miss["detail"] == {
            "field": "PriceSale",
            "pct": 5,
            "boundary": "strict",
            "old": 100,
            "new": 105,
        }
        assert miss_text(miss) == "PriceSale 100 -> 105 moved no more than 5%"
        assert ingest(engine, "sku_price", [price("T2", 105)]).notifications == []


DROP_AND_RECOVERY = """\
format_version: 1
rules:
  - notification: SkuOnHandBreakPointNotification
    payload:
      PartNo: row.PartNo
      WarehouseId: row.WarehouseId
      LocationId: row.LocationId
      OnHandValue: new.OnhandValue
      MinimumValue: new.MinimumValue
      Direction: setting.direction
    settings:
      - id: drop
        table: tClientProductSkuOnHand
        breakpoint: {field: OnhandValue, threshold: MinimumValue}
      - id: recovery
        table: tClientProductSkuOnHand
        breakpoint: {field: OnhandValue, threshold: MinimumValue, direction: up, boundary: strict}
"""


def with_direction(tmp_path: Path, database_url: str) -> Engine:
    """The shipped schemas, the breakpoint type with an optional Direction, and the rule."""
    schemas = tmp_path / "schemas"
    shutil.copytree(REPO / "schemas", schemas)
    path = schemas / "events" / f"{BREAKPOINT}.json"
    schema = json.loads(path.read_text())
    schema["properties"]["Direction"] = {"type": "string", "enum": ["down", "up"]}
    path.write_text(json.dumps(schema))
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "stock.yaml").write_text(DROP_AND_RECOVERY)
    settings = Settings(database_url=database_url, rules_dir=rules, schemas_dir=schemas)
    return Engine.from_settings(settings)


def test_a_drop_and_a_strict_recovery_send_different_values(
    database_url: str, tmp_path: Path
) -> None:
    """5 -> 3 (minimum 3) is a drop, 3 -> 4 the recovery, 4 -> 3 a drop again: each payload
    says its direction, and the recovery never fires at the minimum itself."""
    with with_direction(tmp_path, database_url) as engine:
        sent = [
            [
                (n.payload["OnHandValue"], n.payload["Direction"])
                for n in of_type(result, BREAKPOINT)
            ]
            for result in (ingest(engine, "sku_onhand", [stock("P4", v)]) for v in (5, 3, 4, 3))
        ]
    assert sent == [[], [(3, "down")], [(4, "up")], [(3, "down")]]


ON_SALE = """\
format_version: 1
rules:
  - notification: SkuPriceChangedNotification
    settings:
      - id: on-sale
        table: tClientProductSkuPriceList
        on: [insert, update]
        watch: [PriceSale]
        filter:
          parent.StatusId: 1
          new.PriceSale: {lt: {ref: new.PriceRecommended}}
        payload:
          PartNo: row.PartNo
          PricelistId: row.PricelistId
          PriceSaleValue: new.PriceSale
"""


def test_a_filter_compares_two_fields_and_reads_the_parent(
    database_url: str, tmp_path: Path
) -> None:
    """Only a price below its recommended price, of an active stored SKU, fires; preview
    agrees with ingest and names the parent's value in its near misses."""
    with engine_with(database_url, tmp_path, ON_SALE) as engine:
        ingest(engine, "sku", [{"PartNo": "K1", "StatusId": 1}, {"PartNo": "K2", "StatusId": 5}])
        feed = [
            price("K1", 8) | {"PriceRecommended": 10},  # fires
            price("K1", 12, "NO") | {"PriceRecommended": 10},  # not below the recommended price
            price("K2", 8) | {"PriceRecommended": 10},  # its SKU is inactive
            price("K3", 8) | {"PriceRecommended": 10},  # no SKU stored
        ]
        preview = engine.preview("sku_price", ndjson(feed), fmt="ndjson", explain=True)
        real = ingest(engine, "sku_price", feed)
    decided = [(n.payload, n.explanation) for n in real.notifications]
    assert [(n.payload, n.explanation) for n in preview.notifications] == decided
    assert [n.entity_key for n in real.notifications] == ["K1|SE|1"]
    (match,) = real.notifications[0].explanation["matches"]
    assert match["filter"] == "parent.StatusId eq 1 and new.PriceSale lt new.PriceRecommended"
    seen = {m["entity"]: m["detail"] for m in preview.near_misses}
    assert seen == {
        "K1|NO|1": [
            {
                "condition": "new.PriceSale lt new.PriceRecommended",
                "seen": {"new.PriceSale": 12, "new.PriceRecommended": 10},
            }
        ],
        "K2|SE|1": [{"condition": "parent.StatusId eq 1", "seen": {"parent.StatusId": 5}}],
        "K3|SE|1": [{"condition": "parent.StatusId eq 1", "seen": {"parent.StatusId": "(absent)"}}],
    }


def test_a_stock_row_deleted_and_added_again_is_seen_anew(
    database_url: str, tmp_path: Path
) -> None:
    """Where missing stock rows are deleted: a fired row that is deleted and comes back below
    its minimum is a first sight (nothing); once back above, its next drop fires again."""
    schemas = tmp_path / "schemas"
    shutil.copytree(REPO / "schemas", schemas)
    path = schemas / "entities" / "sku_onhand.json"
    schema = json.loads(path.read_text())
    schema["x-deltahook"]["on_missing"] = "delete"
    path.write_text(json.dumps(schema))
    settings = Settings(database_url=database_url, schemas_dir=schemas)
    other = stock("Q1", 9)
    with Engine.from_settings(settings) as engine:
        sent = [
            fired_full(engine, [*rows, other])
            for rows in ([stock("P1", 5)], [stock("P1", 2)], [], [stock("P1", 1)], [stock("P1", 7)])
        ]
        sent.append(fired_full(engine, [stock("P1", 2), other]))
    assert sent == [[], [2], [], [], [], [2]]


def fired_full(engine: Engine, rows: list[dict[str, Any]]) -> list[Any]:
    result = engine.ingest(
        "sku_onhand", ndjson(rows), fmt="ndjson", mode="full", max_remove="100%", collect=True
    )
    return [n.payload["OnHandValue"] for n in of_type(result, BREAKPOINT)]


def test_a_merge_record_of_stock_alone_crosses_the_stored_minimum(database_url: str) -> None:
    """A merge record with only the key and OnhandValue 2 keeps the stored minimum 3: preview
    and ingest both fire once, with MinimumValue 3 in the payload."""
    with Engine.from_settings(Settings(database_url=database_url)) as engine:
        ingest(engine, "sku_onhand", [stock("M1", 5)])
        partial = {"PartNo": "M1", "WarehouseCode": "STO", "LocationCode": "A-12", "OnhandValue": 2}
        feed = ndjson([partial])
        preview = engine.preview("sku_onhand", feed, fmt="ndjson", mode="merge")
        feed.seek(0)
        real = engine.ingest("sku_onhand", feed, fmt="ndjson", mode="merge", collect=True)
    sent = [
        (n.payload["OnHandValue"], n.payload["MinimumValue"]) for n in of_type(real, BREAKPOINT)
    ]
    assert sent == [(2, 3)]
    assert [n.payload for n in of_type(preview, BREAKPOINT)] == [
        n.payload for n in of_type(real, BREAKPOINT)
    ]
