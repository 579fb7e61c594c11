"""Rules in the ingest path: real SQLite stores, the shipped rules, one transaction."""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import func, select

from deltahook.config import Settings
from deltahook.engine import Engine
from deltahook.errors import EventError, RuleError
from deltahook.explanations import unpack
from deltahook.notifications import Notification
from deltahook.results import RunResult
from deltahook.rules.direct import job_number
from deltahook.store.tables import entities, notifications, rule_state
from tests.conftest import REPO

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
BREAKPOINT = "SkuOnHandBreakPointNotification"
SKU_CHANGED = "SkuChangedNotification"


def stock(part: str, onhand: float, minimum: float = 3, loc: str = "A-12") -> dict[str, Any]:
    return {
        "PartNo": part,
        "WarehouseCode": "STO",
        "WarehouseId": 3,
        "LocationCode": loc,
        "LocationId": 7 if loc == "A-12" else 8,
        "OnhandValue": onhand,
        "MinimumValue": minimum,
    }


def price(part: str, sale: float | None, code: str = "SE", qty: int = 1) -> dict[str, Any]:
    return {
        "PartNo": part,
        "PriceListCode": code,
        "PricelistId": 12 if code == "SE" else 13,
        "QuantityBreak": qty,
        "PriceSale": sale,
    }


def ndjson(records: Iterable[dict[str, Any]]) -> io.BytesIO:
    return io.BytesIO(b"".join(orjson.dumps(r) + b"\n" for r in records))


def ingest(engine: Engine, kind: str, records: Iterable[dict[str, Any]]) -> RunResult:
    return engine.ingest(kind, ndjson(records), fmt="ndjson", collect=True)


def of_type(result: RunResult, kind: str) -> list[Notification]:
    return [n for n in result.notifications if n.type == kind]


def count(engine: Engine, table: Any) -> int:
    with engine.db.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    settings = Settings(database_url=database_url, batch_size=2)
    with Engine.from_settings(settings) as engine:
        yield engine


def test_the_breakpoint_story_on_a_real_store(engine: Engine) -> None:
    """7 -> 2 (minimum 3) fires once with OnHandValue 2; 2 -> 1 nothing; 8 then 3 fires again."""
    assert of_type(ingest(engine, "sku_onhand", [stock("P1", 7)]), BREAKPOINT) == []
    (fired,) = of_type(ingest(engine, "sku_onhand", [stock("P1", 2)]), BREAKPOINT)
    assert fired.payload == {
        "ClientId": 1,
        "ApplicationId": 1,
        "PartNo": "P1",
        "WarehouseId": 3,
        "WarehouseCode": "STO",
        "LocationId": 7,
        "LocationCode": "A-12",
        "OnHandValue": 2,
        "MinimumValue": 3,
    }
    (match,) = fired.explanation["matches"]
    assert match["breakpoint"] | {"state": match["breakpoint"]["state"]} == {
        "field": "OnhandValue",
        "threshold": "MinimumValue",
        "direction": "down",
        "boundary": "inclusive",
        "rearm_band": 0.0,
        "old": 7,
        "new": 2,
        "limit": 3,
        "state": "armed -> fired",
        "why": "crossed: 7 -> 2 <= 3",
    }
    assert of_type(ingest(engine, "sku_onhand", [stock("P1", 1)]), BREAKPOINT) == []
    assert of_type(ingest(engine, "sku_onhand", [stock("P1", 8)]), BREAKPOINT) == []
    (again,) = of_type(ingest(engine, "sku_onhand", [stock("P1", 3)]), BREAKPOINT)
    assert again.payload["OnHandValue"] == 3
    assert again.id != fired.id


def test_a_row_first_seen_below_its_minimum_fires_nothing(engine: Engine) -> None:
    """A new stock row at 1 with minimum 3 fires no breakpoint, now or on the next drop."""
    assert of_type(ingest(engine, "sku_onhand", [stock("P2", 1)]), BREAKPOINT) == []
    assert of_type(ingest(engine, "sku_onhand", [stock("P2", 0)]), BREAKPOINT) == []


def test_breakpoint_state_is_stored_per_row_and_only_on_transitions(engine: Engine) -> None:
    """Firing writes one rule_state row for that location; an uneventful change writes none."""
    ingest(engine, "sku_onhand", [stock("P3", 9), stock("P3", 9, loc="B-01")])
    ingest(engine, "sku_onhand", [stock("P3", 2), stock("P3", 8, loc="B-01")])
    with engine.db.connect() as conn:
        rows = conn.execute(select(rule_state.c.rule, rule_state.c.row_key, rule_state.c.state))
        assert [tuple(r) for r in rows] == [
            (
                "SkuOnHandBreakPointNotification/reorder-point",
                "sku_onhand|tClientProductSkuOnHand|P3|STO|A-12",
                "fired",
            )
        ]


def test_swedish_name_and_english_description_fire_one_sku_notification(engine: Engine) -> None:
    """Two culture rows changing in one feed give exactly one culture SkuChangedNotification."""
    before = {
        "PartNo": "S1",
        "StatusId": 1,
        "Cultures": [
            {"CultureCode": "sv-SE", "Name": "Tröja", "Description": "Mjuk"},
            {"CultureCode": "en-GB", "Name": "Jumper", "Description": "Soft"},
        ],
    }
    after = {
        "PartNo": "S1",
        "StatusId": 1,
        "Cultures": [
            {"CultureCode": "sv-SE", "Name": "Tröja blå", "Description": "Mjuk"},
            {"CultureCode": "en-GB", "Name": "Jumper", "Description": "Soft and warm"},
        ],
    }
    ingest(engine, "sku", [before])
    (fired,) = of_type(ingest(engine, "sku", [after]), SKU_CHANGED)
    assert fired.payload == {
        "ClientId": 1,
        "ApplicationId": 1,
        "PartNo": "S1",
        "EntityChanged": "tClientProductSkuCulture",
    }
    rows = [(m["row"]["CultureCode"], m["fields"]) for m in fired.explanation["matches"]]
    assert rows == [
        ("en-GB", [{"field": "Description", "old": "Soft", "new": "Soft and warm"}]),
        ("sv-SE", [{"field": "Name", "old": "Tröja", "new": "Tröja blå"}]),
    ]


def test_a_change_nobody_watches_fires_nothing_and_stores_nothing(engine: Engine) -> None:
    """CommodityCode and a culture Comment are watched by no setting: no notification."""
    sku = {"PartNo": "S2", "CommodityCode": "1", "Cultures": [{"CultureCode": "sv-SE"}]}
    ingest(engine, "sku", [sku])
    stored = count(engine, notifications)
    changed = sku | {"CommodityCode": "2", "Cultures": [{"CultureCode": "sv-SE", "Comment": "x"}]}
    result = ingest(engine, "sku", [changed])
    assert result.counts.updated == 1
    assert result.notifications == []
    assert count(engine, notifications) == stored + 1  # only the JobCompletedEvent


def test_one_sku_notification_per_sku_and_table_across_batches(engine: Engine) -> None:
    """Price rows of one SKU in different batches still notify the SKU once per ingest."""
    rows = [price("T1", 10, "SE", q) for q in (1, 2, 3)] + [price("T1", 10, "NO")]
    ingest(engine, "sku_price", rows)
    result = ingest(engine, "sku_price", [r | {"PriceSale": 9} for r in rows])
    assert len(of_type(result, "SkuPriceChangedNotification")) == 4
    (sku,) = of_type(result, SKU_CHANGED)
    assert sku.payload["EntityChanged"] == "tClientProductSkuPriceList"


def test_snapshots_and_notifications_are_stored_together(engine: Engine) -> None:
    """After an ingest the store holds each decided notification, with its payload."""
    result = ingest(engine, "sku_onhand", [stock("P4", 7)])
    result = ingest(engine, "sku_onhand", [stock("P4", 2)])
    with engine.db.connect() as conn:
        stored = {
            row.id: orjson.loads(row.payload)
            for row in conn.execute(select(notifications.c.id, notifications.c.payload))
        }
    for n in result.notifications:
        assert stored[n.id] == dict(n.payload)


def test_preview_decides_like_ingest_and_writes_nothing(database_url: str) -> None:
    """Preview returns what ingest then stores; the store and the rule state stay untouched."""
    settings = Settings(database_url=database_url, batch_size=2)
    ids = iter(["job-1", "job-2", "job-2"])
    with Engine.from_settings(settings, clock=lambda: NOW) as engine:
        engine.new_id = lambda: next(ids)
        ingest(engine, "sku_onhand", [stock("P5", 7), stock("P6", 9)])
        before = (count(engine, entities), count(engine, notifications), count(engine, rule_state))
        feed = [stock("P5", 2), stock("P6", 9, minimum=10), stock("P7", 1)]
        preview = engine.preview("sku_onhand", ndjson(feed), fmt="ndjson")
        after = (count(engine, entities), count(engine, notifications), count(engine, rule_state))
        assert after == before
        real = ingest(engine, "sku_onhand", feed)
    assert [n.to_json() for n in preview.notifications] == [n.to_json() for n in real.notifications]
    assert len(of_type(real, BREAKPOINT)) == 2


def test_preview_explain_lists_near_misses_with_the_values_seen(engine: Engine) -> None:
    """A filter that said no shows up as a near miss naming the condition and the value."""
    ingest(engine, "sku_price", [price("T2", 10)])
    result = engine.preview("sku_price", ndjson([price("T2", None)]), fmt="ndjson", explain=True)
    misses = [m for m in result.near_misses if m["setting"].endswith("/sale-price")]
    assert misses == [
        {
            "type": "SkuPriceChangedNotification",
            "setting": "SkuPriceChangedNotification/sale-price",
            "source": f"{REPO / 'rules' / 'sku_price.yaml'}:6",
            "kind": "sku_price",
            "entity": "T2|SE|1",
            "table": "tClientProductSkuPriceList",
            "row": {"PartNo": "T2", "PriceListCode": "SE", "QuantityBreak": 1},
            "op": "update",
            "reason": "filter",
            "detail": [{"condition": "new.PriceSale ne None", "seen": {"new.PriceSale": None}}],
        }
    ]


def test_preview_of_a_before_and_after_pair_ignores_the_store(engine: Engine) -> None:
    """The pair form decides from the two bodies alone, even when the store knows the entity."""
    ingest(engine, "sku_onhand", [stock("P8", 1)])
    result = engine.preview_pair("sku_onhand", before=stock("P8", 7), after=stock("P8", 2))
    assert [n.payload["OnHandValue"] for n in of_type(result, BREAKPOINT)] == [2]
    new = engine.preview_pair("sku_onhand", before=None, after=stock("P9", 2))
    assert of_type(new, BREAKPOINT) == []
    assert [n.payload["EntityChanged"] for n in of_type(new, SKU_CHANGED)] == [
        "tClientProductSkuOnHand"
    ]


def test_the_engine_refuses_to_start_with_an_invalid_rule_set(tmp_path: Path) -> None:
    """One broken rule file stops the engine before the store is opened."""
    rules = tmp_path / "rules"
    shutil.copytree(REPO / "rules", rules)
    (rules / "broken.yaml").write_text("format_version: 1\nrules: [{notification: Nope}]\n")
    settings = Settings(database_url=f"sqlite:///{tmp_path / 't.db'}", rules_dir=rules)
    with pytest.raises(RuleError) as caught:
        Engine.from_settings(settings)
    assert str(caught.value.problems[0]).startswith(f"{rules / 'broken.yaml'}:2:")
    assert not (tmp_path / "t.db").exists()


def test_an_invalid_payload_is_not_stored_and_is_reported(tmp_path: Path) -> None:
    """A rule that maps a null price into PriceSaleValue skips that notification with a note."""
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "price.yaml").write_text(
        (REPO / "rules" / "sku_price.yaml")
        .read_text()
        .replace("new.PriceSale: {exists: true, ne: null}", "new.IsActive: {ne: false}")
    )
    settings = Settings(database_url=f"sqlite:///{tmp_path / 't.db'}", rules_dir=rules)
    with Engine.from_settings(settings) as engine:
        ingest(engine, "sku_price", [price("T3", 10)])
        result = ingest(engine, "sku_price", [price("T3", None)])
    assert result.notifications == []
    (note,) = result.notices
    assert "SkuPriceChangedNotification/sale-price" in note
    assert "payload not sent, invalid: PriceSaleValue: None is not of type 'number'" in note


def test_each_ingest_records_its_job_completed_event(engine: Engine) -> None:
    """JobCompletedEvent: StatusId 2 when all went in, 4 when records were rejected."""
    good = ingest(engine, "sku_onhand", [stock("P10", 5)])
    bad = engine.ingest("sku_onhand", io.BytesIO(b'{"PartNo": 1}\n'), fmt="ndjson")
    with engine.db.connect() as conn:
        rows = conn.execute(
            select(notifications.c.job_id, notifications.c.payload).where(
                notifications.c.type == "JobCompletedEvent"
            )
        )
        events = {job: orjson.loads(payload) for job, payload in rows}
    assert events[good.job_id] == {
        "ClientId": 1,
        "ApplicationId": 1,
        "JobId": job_number(good.job_id),
        "StatusId": 2,
    }
    assert events[bad.job_id]["StatusId"] == 4


def test_emit_validates_and_records_an_event_once_per_idempotency_key(engine: Engine) -> None:
    """A valid order event is recorded (constants filled in); a bad one is refused."""
    payload = {"OrderId": 9, "OrderNo": "1009", "ClientOrderRef": "W-9", "Source": "web"}
    event = engine.emit("OrderConfirmedEvent", payload, idempotency_key="order-9").event
    repeat = engine.emit("OrderConfirmedEvent", payload, idempotency_key="order-9")
    again, deliveries = repeat.event, repeat.deliveries
    assert repeat.replayed
    assert event.id == again.id
    assert deliveries == 0
    assert event.payload == payload | {"ClientId": 1, "ApplicationId": 1}
    with pytest.raises(EventError, match="OrderNo"):
        engine.emit("OrderConfirmedEvent", {"OrderId": 9})
    with pytest.raises(EventError, match="rules derive it"):
        engine.emit("SkuChangedNotification", {"PartNo": "A", "EntityChanged": "tCategory"})


def custom_rules(tmp_path: Path, text: str) -> Settings:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "custom.yaml").write_text(text)
    return Settings(database_url=f"sqlite:///{tmp_path / 't.db'}", rules_dir=rules)


THRESHOLD_RULE = """\
format_version: 1
rules:
  - notification: SkuPriceChangedNotification
    settings:
      - id: big-moves
        table: tClientProductSkuPriceList
        on: [update]
        watch: [PriceSale]
        threshold: {field: PriceSale, pct: 5}
        payload:
          PartNo: row.PartNo
          PricelistId: row.PricelistId
          PriceSaleValue: new.PriceSale
"""


def test_a_price_threshold_ignores_small_moves_and_explains_them(tmp_path: Path) -> None:
    """With pct 5, 100 -> 103 is a near miss with the values seen; 100 -> 110 fires."""
    with Engine.from_settings(custom_rules(tmp_path, THRESHOLD_RULE)) as engine:
        ingest(engine, "sku_price", [price("T5", 100)])
        small = engine.preview("sku_price", ndjson([price("T5", 103)]), fmt="ndjson", explain=True)
        big = ingest(engine, "sku_price", [price("T5", 110)])
    assert small.notifications == []
    (miss,) = small.near_misses
    assert (miss["reason"], miss["detail"]) == (
        "threshold",
        {"field": "PriceSale", "pct": 5.0, "boundary": "inclusive", "old": 100, "new": 103},
    )
    (fired,) = big.notifications
    assert fired.payload["PriceSaleValue"] == 110
    assert fired.explanation["matches"][0]["threshold"] == miss["detail"] | {"new": 110}


PARENT_RULE = """\
format_version: 1
rules:
  - notification: SkuChangedNotification
    settings:
      - id: price-of-known-sku
        table: tClientProductSkuPriceList
        on: [insert]
        payload:
          PartNo: parent.PartNo
          EntityChanged: setting.table
"""


def test_a_payload_can_name_the_parent_entity(tmp_path: Path) -> None:
    """parent.X reads the stored parent SKU; a price row of an unknown SKU cannot fill it."""
    with Engine.from_settings(custom_rules(tmp_path, PARENT_RULE)) as engine:
        ingest(engine, "sku", [{"PartNo": "K1", "StatusId": 1}])
        result = ingest(engine, "sku_price", [price("K1", 10), price("K2", 10)])
    (fired,) = result.notifications
    assert fired.payload["PartNo"] == "K1"
    (note,) = result.notices
    assert "'K2|SE|1'" in note
    assert "'PartNo' is a required property" in note


def test_stored_explanations_read_back_as_decided(engine: Engine) -> None:
    """Each stored explanation (packed) reads back equal to the notification's own, for
    inserted, updated and deleted rows, filters, thresholds, breakpoints and absent fields."""
    cultures = [{"CultureCode": "sv-SE", "Name": "a"}, {"CultureCode": "en-GB", "Name": "b"}]
    sku = {"PartNo": "E1", "StatusId": 1, "Cultures": cultures}
    runs = [
        ingest(engine, "sku", [sku]),
        ingest(
            engine,
            "sku",
            [sku | {"StatusId": 2, "EndDate": None, "Cultures": [{"CultureCode": "sv-SE"}]}],
        ),
        ingest(engine, "sku_price", [price("E1", 10), price("E1", 10, "NO")]),
        ingest(engine, "sku_price", [price("E1", 20)]),
        ingest(engine, "sku_onhand", [stock("E1", 7)]),
        ingest(engine, "sku_onhand", [stock("E1", 2)]),
    ]
    decided = [n for run in runs for n in run.notifications]
    assert {m["op"] for n in decided for m in n.explanation["matches"]} == {
        "insert",
        "update",
        "delete",
    }
    assert any("breakpoint" in m for n in decided for m in n.explanation["matches"])
    with engine.db.connect() as conn:
        rows = conn.execute(select(notifications.c.id, notifications.c.explanation)).all()
    stored = {row.id: unpack(row.explanation) for row in rows}
    for n in decided:
        assert stored[n.id] == dict(n.explanation)
        assert (
            orjson.loads(orjson.dumps(stored[n.id]))
            == orjson.loads(orjson.dumps(n.to_json()))["explanation"]
        )
