"""Golden scenarios for the kinds beside the plain SKU: prices, stock, customers and companies.

Each feed is a file ingested by the engine as ``deltahook ingest`` does, with the shipped rules
and one subscription that wants every type; what a scenario reads back is what the store holds
for the job: its notifications (type and payload), the row changes their explanations name,
and one delivery queued per notification. The expectations come from DESIGN.md and
rules/README.md (one notification per entity and table, one per price row, one per crossing
stock row; a full feed deactivates what its scope left out; a baseline notifies nothing).

These kinds have no delete record in a delta feed: an entity leaves by a full feed's sweep,
which deactivates it (``on_missing``), and a nested row (an address, a contact) by an upsert
record that no longer carries it. A merge record never removes a nested row.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from deltahook.config import Settings
from deltahook.delivery.settings import SubscriptionSettings
from deltahook.engine import Engine
from deltahook.explanations import unpack
from deltahook.results import Mode, RunResult
from deltahook.store.tables import deliveries, notifications
from tests.conftest import REPO

SKU_CHANGED = "SkuChangedNotification"
PRICE_CHANGED = "SkuPriceChangedNotification"
BREAKPOINT = "SkuOnHandBreakPointNotification"
CUSTOMER_CHANGED = "CustomerChangedNotification"
COMPANY_CHANGED = "CompanyChangedNotification"
SUBSCRIBER = SubscriptionSettings(name="all", url="https://hooks.example/in", event_types=["*"])
ABSENT = "<absent>"  # a field's old value on an insert, its new value on a delete


@dataclass(frozen=True)
class Match:
    """One row change a notification's explanation names."""

    setting: str
    table: str
    op: str
    row: dict[str, Any]
    fields: dict[str, tuple[Any, Any]]  # field: (old, new)
    crossing: str | None = None  # a breakpoint's: why it fired


@dataclass
class Run:
    """One ingest: its result and what the store holds for its job."""

    result: RunResult
    fired: list[tuple[str, dict[str, Any]]]  # (type, payload without ClientId/ApplicationId)
    explained: dict[tuple[str, bytes], list[Match]]  # by type and payload: the row changes
    events: list[str]  # the types of the events the job stored (its JobCompletedEvent)

    def why(self, fired: tuple[str, dict[str, Any]]) -> list[Match]:
        """The row changes that made ``fired`` (a type and payload among ``self.fired``)."""
        return self.explained[fired[0], _text(fired[1])]


class Shop:
    """A store with the shipped rules (or others) that feed files go into."""

    def __init__(self, engine: Engine, folder: Path) -> None:
        self.engine = engine
        self.folder = folder
        self.feeds = 0

    def ingest(
        self,
        kind: str,
        records: Iterable[dict[str, Any]],
        *,
        mode: Mode = "upsert",
        baseline: bool = False,
        max_remove: str | None = None,
        fmt: str = "ndjson",
    ) -> Run:
        """Ingest ``records`` written to a file (NDJSON, or with ``fmt="json"`` an array)."""
        self.feeds += 1
        path = self.folder / f"feed-{self.feeds}-{kind}.{fmt}"
        if fmt == "json":
            path.write_bytes(orjson.dumps(list(records), option=orjson.OPT_INDENT_2))
        else:
            path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
        return self.ingest_file(kind, path, mode=mode, baseline=baseline, max_remove=max_remove)

    def ingest_file(
        self,
        kind: str,
        path: Path,
        *,
        mode: Mode = "upsert",
        baseline: bool = False,
        max_remove: str | None = None,
    ) -> Run:
        result = self.engine.ingest(kind, path, mode=mode, baseline=baseline, max_remove=max_remove)
        assert result.rejects == [], result.rejects
        return self._read_back(result)

    def _read_back(self, result: RunResult) -> Run:
        n, d = notifications.c, deliveries.c
        with self.engine.db.connect() as conn:
            rows = conn.execute(
                select(n.id, n.type, n.family, n.payload, n.explanation).where(
                    n.job_id == result.job_id
                )
            ).all()
            ids = [row.id for row in rows if row.family == "notification"]
            queued = conn.execute(
                select(d.notification_id, d.subscription).where(d.notification_id.in_(ids))
            ).all()
        assert sorted(queued) == sorted((i, SUBSCRIBER.name) for i in ids)  # one delivery each
        fired: list[tuple[str, dict[str, Any]]] = []
        explained: dict[tuple[str, bytes], list[Match]] = {}
        for row in (row for row in rows if row.family == "notification"):
            payload = orjson.loads(row.payload)
            assert (payload.pop("ClientId"), payload.pop("ApplicationId")) == (1, 1)
            fired.append((row.type, payload))
            explained[row.type, _text(payload)] = _matches(unpack(row.explanation))
        fired.sort(key=lambda item: (item[0], _text(item[1])))
        events = sorted(row.type for row in rows if row.family == "event")
        return Run(result, fired, explained, events)

    def snapshot(self, kind: str, key: str) -> dict[str, Any]:
        stored = self.engine.snapshot(kind, key)
        assert stored is not None, key
        return stored.body


def _text(value: dict[str, Any]) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def _matches(explanation: dict[str, Any]) -> list[Match]:
    out = [
        Match(
            setting=m["setting"].split("/", 1)[1],
            table=m["table"],
            op=m["op"],
            row=m["row"],
            fields={f["field"]: (f.get("old", ABSENT), f.get("new", ABSENT)) for f in m["fields"]},
            crossing=m["breakpoint"]["why"] if "breakpoint" in m else None,
        )
        for m in explanation["matches"]
    ]
    return sorted(out, key=lambda m: _text(m.row))


@contextmanager
def open_shop(database_url: str, folder: Path, rules: Path = REPO / "rules") -> Iterator[Shop]:
    settings = Settings(
        database_url=database_url,
        rules_dir=rules,
        batch_size=2,  # several batches even in these small feeds
        subscriptions=[SUBSCRIBER],
    )
    with Engine.from_settings(settings) as engine:
        yield Shop(engine, folder)


@pytest.fixture
def shop(database_url: str, tmp_path: Path) -> Iterator[Shop]:
    with open_shop(database_url, tmp_path) as shop:
        yield shop


LIST_IDS = {"SE": 12, "NO": 13, "DK": 14}  # price lists: PriceListCode -> PricelistId


def price(part: str, code: str = "SE", qty: float = 1, **fields: Any) -> dict[str, Any]:
    return {
        "PartNo": part,
        "PriceListCode": code,
        "PricelistId": LIST_IDS[code],
        "QuantityBreak": qty,
        "CurrencyCode": "SEK",
        "IsActive": True,
        **fields,
    }


def price_fired(part: str, code: str, sale: float, qty: float = 1) -> tuple[str, dict[str, Any]]:
    payload = {"PartNo": part, "PricelistId": LIST_IDS[code], "PricelistCode": code}
    return PRICE_CHANGED, payload | {"PriceSaleValue": sale, "QuantityBreak": qty}


def sku_fired(part: str, table: str) -> tuple[str, dict[str, Any]]:
    return SKU_CHANGED, {"PartNo": part, "EntityChanged": table}


def stock(
    part: str, onhand: float, minimum: float = 3, wh: str = "STO", loc: str = "A-12"
) -> dict[str, Any]:
    return {
        "PartNo": part,
        "WarehouseCode": wh,
        "WarehouseId": 3 if wh == "STO" else 4,
        "LocationCode": loc,
        "LocationId": 7,
        "OnhandValue": onhand,
        "MinimumValue": minimum,
        "IsActive": True,
    }


def expect(*fired: tuple[str, dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """``fired`` in the order ``Run.fired`` lists notifications."""
    return sorted(fired, key=lambda item: (item[0], _text(item[1])))


# sku_price ---------------------------------------------------------------------------------

PRICES = "tClientProductSkuPriceList"


def price_key(part: str, code: str = "SE", qty: float = 1) -> dict[str, Any]:
    return {"PartNo": part, "PriceListCode": code, "QuantityBreak": qty}


def test_price_first_load_notifies_each_priced_row_and_each_sku_once(shop: Shop) -> None:
    """A first load that is no baseline is all inserts: a price notification per row with a sale
    price (none for a row without one), one SkuChangedNotification per SKU for all its rows."""
    run = shop.ingest(
        "sku_price",
        [price("A", PriceSale=100), price("A", "NO", PriceSale=110), price("B")],
    )
    assert (run.result.counts.inserted, run.result.counts.notifications) == (3, 4)
    assert run.fired == expect(
        price_fired("A", "SE", 100),
        price_fired("A", "NO", 110),
        sku_fired("A", PRICES),
        sku_fired("B", PRICES),
    )
    assert [m.op for m in run.why(sku_fired("A", PRICES))] == ["insert", "insert"]
    assert run.events == ["JobCompletedEvent"]


def test_price_baseline_then_a_sale_price_change_then_the_same_feed_again(shop: Shop) -> None:
    """A baseline notifies nothing, not even its job's completion; a sale price change then fires
    its row's price notification and its SKU's, each explained by PriceSale 100 -> 90; the
    same feed once more is unchanged and fires nothing."""
    first = [price("A", PriceSale=100), price("B", PriceSale=200), price("A", "NO", PriceSale=110)]
    base = shop.ingest("sku_price", first, baseline=True)
    assert (base.result.counts.inserted, base.fired, base.events) == (3, [], [])
    second = [price("A", PriceSale=90), *first[1:]]
    run = shop.ingest("sku_price", second)
    assert (run.result.counts.updated, run.result.counts.unchanged) == (1, 2)
    assert run.fired == expect(price_fired("A", "SE", 90), sku_fired("A", PRICES))
    assert run.why(price_fired("A", "SE", 90)) == [
        Match("sale-price", PRICES, "update", price_key("A"), {"PriceSale": (100, 90)})
    ]
    assert run.why(sku_fired("A", PRICES)) == [
        Match("sku-price", PRICES, "update", price_key("A"), {"PriceSale": (100, 90)})
    ]
    again = shop.ingest("sku_price", second)
    assert (again.result.counts.unchanged, again.fired) == (3, [])


def test_only_a_set_sale_price_fires_the_price_notification(shop: Shop) -> None:
    """The shipped filter (a sale price exists, not null): a recommended price change tells only
    the SKU, a cost change nobody watches fires nothing, a sale price cleared to null tells
    only the SKU, and a sale price set again fires the price notification too."""
    row = price("A", PriceSale=100, PriceRecommended=120, CostPurchase=40)
    shop.ingest("sku_price", [row], baseline=True)
    recommended = shop.ingest("sku_price", [row | {"PriceRecommended": 130}])
    assert recommended.fired == [sku_fired("A", PRICES)]
    row |= {"PriceRecommended": 130}
    cost = shop.ingest("sku_price", [row | {"CostPurchase": 45}])
    assert (cost.result.counts.updated, cost.fired) == (1, [])
    row |= {"CostPurchase": 45}
    cleared = shop.ingest("sku_price", [row | {"PriceSale": None}])
    assert cleared.fired == [sku_fired("A", PRICES)]
    assert cleared.why(sku_fired("A", PRICES))[0].fields == {"PriceSale": (100, None)}
    again = shop.ingest("sku_price", [row | {"PriceSale": 80}])
    assert again.fired == expect(price_fired("A", "SE", 80), sku_fired("A", PRICES))
    assert again.why(price_fired("A", "SE", 80))[0].fields == {"PriceSale": (None, 80)}


def test_a_merge_price_record_keeps_what_it_sends_as_zero_or_null(shop: Shop) -> None:
    """In merge mode the price fields the kind declares "not sent when empty" keep their stored
    value when sent as 0 or null: nothing changes; a real new sale price fires as in upsert, and
    the fields it left out are kept."""
    shop.ingest("sku_price", [price("A", PriceSale=100, PriceRecommended=120)], baseline=True)
    empty = price_key("A") | {"PriceSale": 0, "PriceRecommended": None}
    unsent = shop.ingest("sku_price", [empty], mode="merge")
    assert (unsent.result.counts.unchanged, unsent.fired) == (1, [])
    run = shop.ingest("sku_price", [price_key("A") | {"PriceSale": 95}], mode="merge")
    assert run.fired == expect(price_fired("A", "SE", 95), sku_fired("A", PRICES))
    body = shop.snapshot("sku_price", "A|SE|1")
    assert (body["PriceSale"], body["PriceRecommended"], body["CurrencyCode"]) == (95, 120, "SEK")


def test_a_full_price_feed_deactivates_the_rows_its_price_list_left_out(shop: Shop) -> None:
    """A full feed of the SE list deactivates the SE row it left out (IsActive true -> false:
    the SKU is told, no sale price changed) and leaves the NO list alone; the same feed again
    changes nothing; the row back in the feed is active again, and the SKU told so."""
    rows = [price(p, PriceSale=100) for p in "ABC"] + [price("B", "NO", PriceSale=110)]
    shop.ingest("sku_price", rows, baseline=True)
    full = [rows[0], rows[2]]
    run = shop.ingest("sku_price", full, mode="full")
    assert run.result.sweep == "swept"
    assert (run.result.counts.updated, run.result.counts.unchanged) == (1, 2)
    assert run.fired == [sku_fired("B", PRICES)]
    assert run.why(sku_fired("B", PRICES))[0].fields == {"IsActive": (True, False)}
    assert shop.snapshot("sku_price", "B|SE|1")["IsActive"] is False
    untouched = shop.engine.snapshot("sku_price", "B|NO|1")
    assert untouched is not None
    assert untouched.version == 1
    again = shop.ingest("sku_price", full, mode="full")
    assert (again.result.counts.updated, again.fired) == (0, [])
    back = shop.ingest("sku_price", rows[:3], mode="full")
    assert back.fired == [sku_fired("B", PRICES)]
    assert back.why(sku_fired("B", PRICES))[0].fields == {"IsActive": (False, True)}


NORDIC_PRICE_RULE = """\
format_version: 1
rules:
  - notification: SkuPriceChangedNotification
    settings:
      - id: nordic-sale-price
        table: tClientProductSkuPriceList
        on: [update]
        watch: [PriceSale]
        filter:
          new.PriceListCode: {in: [SE, NO]}
          new.PriceSale: {exists: true, ne: null}
        threshold: {field: PriceSale, pct: 5, boundary: strict}
        payload:
          PartNo: row.PartNo
          PricelistId: row.PricelistId
          PricelistCode: row.PriceListCode
          PriceSaleValue: new.PriceSale
          QuantityBreak: row.QuantityBreak
"""


def test_a_price_rule_for_two_lists_and_more_than_five_percent(
    database_url: str, tmp_path: Path
) -> None:
    """DESIGN's example, "a sale price in the SE or NO price list changes by more than 5%":
    4% and exactly 5% do not fire, 6% and 5.01% do, and 50% in the DK list does not."""
    rules = tmp_path / "rules"
    shutil.copytree(REPO / "rules", rules)
    (rules / "sku_price.yaml").write_text(NORDIC_PRICE_RULE)
    feeds = tmp_path / "feeds"
    feeds.mkdir()
    with open_shop(database_url, feeds, rules) as shop:
        before = [
            price("A", PriceSale=100),
            price("B", PriceSale=100),
            price("C", "NO", PriceSale=100),
            price("D", "NO", PriceSale=100),
            price("E", "DK", PriceSale=100),
        ]
        shop.ingest("sku_price", before, baseline=True)
        after = [
            r | {"PriceSale": new} for r, new in zip(before, [96, 94, 105, 105.01, 50], strict=True)
        ]
        run = shop.ingest("sku_price", after)
        assert [f for f in run.fired if f[0] == PRICE_CHANGED] == expect(
            price_fired("B", "SE", 94), price_fired("D", "NO", 105.01)
        )


# sku_onhand --------------------------------------------------------------------------------

ONHAND = "tClientProductSkuOnHand"


def breakpoint_fired(
    part: str, onhand: float, minimum: float = 3, wh: str = "STO", loc: str = "A-12"
) -> tuple[str, dict[str, Any]]:
    where = {"WarehouseCode": wh, "WarehouseId": 3 if wh == "STO" else 4}
    where |= {"LocationCode": loc, "LocationId": 7}
    return BREAKPOINT, {"PartNo": part, **where, "OnHandValue": onhand, "MinimumValue": minimum}


def test_stock_first_load_tells_each_sku_and_fires_no_breakpoint(shop: Shop) -> None:
    """A first load that is no baseline inserts rows: each SKU is told once for all its rows,
    and no row fires its breakpoint on first sight, not even one already below its minimum."""
    run = shop.ingest("sku_onhand", [stock("A", 7), stock("A", 1, loc="B-01"), stock("B", 1)])
    assert run.result.counts.inserted == 3
    assert run.fired == expect(sku_fired("A", ONHAND), sku_fired("B", ONHAND))


def test_stock_fires_a_breakpoint_only_for_a_row_crossing_its_minimum(shop: Shop) -> None:
    """Minimum 3: 7 -> 2 crosses and fires for its row; 7 -> 4 (above) and 1 -> 0 (below
    already) do not; every changed SKU is told; the same feed again fires nothing; back to 8
    re-arms without firing, and 8 -> 3 (at the minimum) fires again."""
    shop.ingest("sku_onhand", [stock("A", 7), stock("B", 7), stock("C", 1)], baseline=True)
    run = shop.ingest("sku_onhand", [stock("A", 2), stock("B", 4), stock("C", 0)])
    assert run.fired == expect(
        breakpoint_fired("A", 2),
        sku_fired("A", ONHAND),
        sku_fired("B", ONHAND),
        sku_fired("C", ONHAND),
    )
    (crossed,) = run.why(breakpoint_fired("A", 2))
    assert (crossed.setting, crossed.fields) == ("reorder-point", {"OnhandValue": (7, 2)})
    assert crossed.crossing == "crossed: 7 -> 2 <= 3"
    again = shop.ingest("sku_onhand", [stock("A", 2), stock("B", 4), stock("C", 0)])
    assert (again.result.counts.unchanged, again.fired) == (3, [])
    rearmed = shop.ingest("sku_onhand", [stock("A", 8)])
    assert rearmed.fired == [sku_fired("A", ONHAND)]
    fired_again = shop.ingest("sku_onhand", [stock("A", 3)])
    assert fired_again.fired == expect(breakpoint_fired("A", 3), sku_fired("A", ONHAND))


def test_two_rows_of_one_sku_crossing_fire_twice_and_tell_the_sku_once(shop: Shop) -> None:
    """One breakpoint notification per crossing row (SKU x warehouse x location), one
    SkuChangedNotification for the SKU whose stock rows changed."""
    shop.ingest("sku_onhand", [stock("A", 7), stock("A", 9, loc="B-01")], baseline=True)
    run = shop.ingest("sku_onhand", [stock("A", 2), stock("A", 1, loc="B-01")])
    assert run.fired == expect(
        breakpoint_fired("A", 2), breakpoint_fired("A", 1, loc="B-01"), sku_fired("A", ONHAND)
    )
    assert len(run.why(sku_fired("A", ONHAND))) == 2


def test_a_merge_stock_record_crosses_the_stored_minimum(shop: Shop) -> None:
    """A merge record with only its key and OnhandValue is held against the stored
    MinimumValue, which its notification carries; the fields it left out are kept."""
    shop.ingest("sku_onhand", [stock("A", 7, minimum=5)], baseline=True)
    key = {"PartNo": "A", "WarehouseCode": "STO", "LocationCode": "A-12"}
    run = shop.ingest("sku_onhand", [key | {"OnhandValue": 5}], mode="merge")
    assert run.fired == expect(breakpoint_fired("A", 5, minimum=5), sku_fired("A", ONHAND))
    assert shop.snapshot("sku_onhand", "A|STO|A-12") == stock("A", 5, minimum=5)


def test_a_full_stock_feed_deactivates_left_out_rows_of_its_warehouse_only(shop: Shop) -> None:
    """A full feed of warehouse STO deactivates the STO row it left out (the SKU is told; its
    stock did not move, so no breakpoint) and leaves the other warehouse's rows alone."""
    rows = [stock("A", 7), stock("B", 7), stock("C", 7, wh="GBG")]
    shop.ingest("sku_onhand", rows, baseline=True)
    run = shop.ingest("sku_onhand", [stock("A", 7)], mode="full")
    assert run.result.sweep == "swept"
    assert run.fired == [sku_fired("B", ONHAND)]
    assert run.why(sku_fired("B", ONHAND))[0].fields == {"IsActive": (True, False)}
    assert shop.snapshot("sku_onhand", "B|STO|A-12")["IsActive"] is False
    assert shop.snapshot("sku_onhand", "C|GBG|A-12")["IsActive"] is True


def test_a_csv_stock_feed_fires_as_its_ndjson_twin(shop: Shop) -> None:
    """The same crossing read from CSV (a flat kind's other format) fires the same breakpoint."""
    shop.ingest("sku_onhand", [stock("A", 7)], baseline=True)
    path = shop.folder / "stock.csv"
    row = stock("A", 2)
    cells = ["true" if v is True else str(v) for v in row.values()]
    path.write_text(",".join(row) + "\n" + ",".join(cells) + "\n")
    run = shop.ingest_file("sku_onhand", path)
    assert run.fired == expect(breakpoint_fired("A", 2), sku_fired("A", ONHAND))


# customer ----------------------------------------------------------------------------------

CUSTOMER = "tClientCustomer"
ADDRESS = "tClientCustomerAddress"
FLAG = "tClientCustomerFlag"


def customer(code: str, cid: int, **fields: Any) -> dict[str, Any]:
    return {"CustomerCode": code, "CustomerId": cid, "IsActive": True, **fields}


def customer_fired(cid: int, table: str) -> tuple[str, dict[str, Any]]:
    return CUSTOMER_CHANGED, {"CustomerId": cid, "EntityChanged": table}


HOME = {"AddressCode": "home", "AddressType": "Delivery", "City": "Lund"}
WORK = {"AddressCode": "work", "AddressType": "Invoice", "City": "Malmö"}
ANN = customer(
    "C1",
    501,
    FirstName="Ann",
    Email="ann@example.com",
    Addresses=[HOME, WORK],
    Flags=[{"FlagId": 1, "FlagCode": "VIP"}],
)
BO = customer("C2", 502, FirstName="Bo")


def test_customer_first_load_notifies_each_table_a_customer_has_rows_in(shop: Shop) -> None:
    """A first load that is no baseline: each customer is notified once per table it has rows
    in (its own row, its two addresses together, its flag). The feed is a JSON array."""
    run = shop.ingest("customer", [ANN, BO], fmt="json")
    assert run.fired == expect(
        customer_fired(501, CUSTOMER),
        customer_fired(501, ADDRESS),
        customer_fired(501, FLAG),
        customer_fired(502, CUSTOMER),
    )
    assert [m.op for m in run.why(customer_fired(501, ADDRESS))] == ["insert", "insert"]


def test_customer_field_change_then_reordered_and_same_feeds(shop: Shop) -> None:
    """After a baseline, a new first name fires one notification for the customer's own table,
    explained by FirstName Ann -> Anna alone; the addresses reordered, and the same feed
    again, fire nothing."""
    base = shop.ingest("customer", [ANN, BO], baseline=True)
    assert base.fired == []
    renamed = ANN | {"FirstName": "Anna"}
    run = shop.ingest("customer", [renamed, BO])
    assert run.fired == [customer_fired(501, CUSTOMER)]
    assert run.why(customer_fired(501, CUSTOMER)) == [
        Match(
            "customer", CUSTOMER, "update", {"CustomerCode": "C1"}, {"FirstName": ("Ann", "Anna")}
        )
    ]
    reordered = renamed | {"Addresses": [WORK, HOME]}
    for feed in ([reordered, BO], [renamed, BO]):
        again = shop.ingest("customer", feed)
        assert (again.result.counts.unchanged, again.fired) == (2, [])


def test_customer_addresses_added_changed_and_removed_are_one_notification(shop: Shop) -> None:
    """An address added, one changed and one removed in one record: one notification for the
    address table, explained by an insert, an update of City alone and a delete."""
    shop.ingest("customer", [ANN], baseline=True)
    moved = HOME | {"City": "Ystad"}
    cabin = {"AddressCode": "cabin", "City": "Åre"}
    run = shop.ingest("customer", [ANN | {"Addresses": [moved, cabin]}])
    assert run.fired == [customer_fired(501, ADDRESS)]
    assert run.why(customer_fired(501, ADDRESS)) == [
        Match(
            "customer-address",
            ADDRESS,
            "insert",
            {"CustomerCode": "C1", "AddressCode": "cabin"},
            {"AddressCode": (ABSENT, "cabin"), "City": (ABSENT, "Åre")},
        ),
        Match(
            "customer-address",
            ADDRESS,
            "update",
            {"CustomerCode": "C1", "AddressCode": "home"},
            {"City": ("Lund", "Ystad")},
        ),
        Match(
            "customer-address",
            ADDRESS,
            "delete",
            {"CustomerCode": "C1", "AddressCode": "work"},
            {"AddressCode": ("work", ABSENT), "AddressType": ("Invoice", ABSENT)}
            | {"City": ("Malmö", ABSENT)},
        ),
    ]


def test_customer_flags_emptied_are_deleted(shop: Shop) -> None:
    """A record whose Flags list is empty, or left out, removes the stored flag rows."""
    shop.ingest("customer", [ANN], baseline=True)
    run = shop.ingest("customer", [ANN | {"Flags": []}])
    assert run.fired == [customer_fired(501, FLAG)]
    assert [m.op for m in run.why(customer_fired(501, FLAG))] == ["delete"]
    assert "Flags" not in shop.snapshot("customer", "C1")


def test_a_full_customer_feed_deactivates_the_customers_it_left_out(shop: Shop) -> None:
    """Left out of a full feed, a customer is deactivated (IsActive true -> false) and notified
    once, its addresses kept; the same feed again is no change; back in the feed it is active
    again and notified."""
    shop.ingest("customer", [ANN, BO], baseline=True)
    run = shop.ingest("customer", [BO], mode="full")
    assert (run.result.sweep, run.result.counts.updated) == ("swept", 1)
    assert run.fired == [customer_fired(501, CUSTOMER)]
    assert run.why(customer_fired(501, CUSTOMER))[0].fields == {"IsActive": (True, False)}
    body = shop.snapshot("customer", "C1")
    assert (body["IsActive"], sorted(body["Addresses"])) == (False, ["home", "work"])
    again = shop.ingest("customer", [BO], mode="full")
    assert again.fired == []
    back = shop.ingest("customer", [ANN, BO], mode="full")
    assert back.fired == [customer_fired(501, CUSTOMER)]
    assert back.why(customer_fired(501, CUSTOMER))[0].fields == {"IsActive": (False, True)}


def test_a_merge_customer_record_changes_what_it_sends_and_keeps_the_rest(shop: Shop) -> None:
    """Merge: a new e-mail and one address row sent alone change only those (one notification
    per table); the other address, the flag and the names are kept."""
    shop.ingest("customer", [ANN], baseline=True)
    patch = {
        "CustomerCode": "C1",
        "Email": "ann@example.se",
        "Addresses": [{"AddressCode": "work", "City": "Lund"}],
    }
    run = shop.ingest("customer", [patch], mode="merge")
    assert run.fired == expect(customer_fired(501, CUSTOMER), customer_fired(501, ADDRESS))
    assert run.why(customer_fired(501, CUSTOMER))[0].fields == {
        "Email": ("ann@example.com", "ann@example.se")
    }
    assert run.why(customer_fired(501, ADDRESS))[0].fields == {"City": ("Malmö", "Lund")}
    again = shop.ingest("customer", [patch], mode="merge")
    assert (again.result.counts.unchanged, again.fired) == (1, [])
    body = shop.snapshot("customer", "C1")
    assert (body["FirstName"], sorted(body["Addresses"]), body["Flags"]["1"]["FlagCode"]) == (
        "Ann",
        ["home", "work"],
        "VIP",
    )


# company -----------------------------------------------------------------------------------

COMPANY = "tClientCompany"


def company_fired(cid: int, table: str) -> tuple[str, dict[str, Any]]:
    return COMPANY_CHANGED, {"CompanyId": cid, "EntityChanged": table}


BUYER = {"CustomerCode": "C1", "CustomerId": 501, "RoleCode": "BUYER"}
VIEWER = {"CustomerCode": "C2", "CustomerId": 502, "RoleCode": "VIEWER"}
ACME: dict[str, Any] = {
    "CompanyCode": "K1",
    "CompanyId": 77,
    "Name": "Acme",
    "IsActive": True,
    "Customers": [BUYER, VIEWER],
    "Addresses": [{"AddressCode": "hq", "City": "Lund"}],
    "PaymentMethods": [{"PaymentMethodId": 3, "Code": "INVOICE"}],
    "Discounts": [{"DiscountCode": "D10", "DiscountPercentage": 10, "StartDate": "2026-01-01"}],
}
BETA = {"CompanyCode": "K2", "CompanyId": 78, "Name": "Beta", "IsActive": True}


def test_company_first_load_then_a_name_change(shop: Shop) -> None:
    """A first load that is no baseline notifies each company once per table it has rows in;
    a new name then fires one notification for the company's own table, Name old -> new; the
    same feed again fires nothing."""
    first = shop.ingest("company", [ACME, BETA])
    assert first.fired == expect(
        *(company_fired(77, t) for t in (COMPANY, "tClientCustomer", "tClientCompanyAddress")),
        company_fired(77, "tClientCompanyPaymentMethod"),
        company_fired(77, "tClientCompanyDiscount"),
        company_fired(78, COMPANY),
    )
    renamed = ACME | {"Name": "Acme AB"}
    run = shop.ingest("company", [renamed, BETA])
    assert run.fired == [company_fired(77, COMPANY)]
    assert run.why(company_fired(77, COMPANY))[0].fields == {"Name": ("Acme", "Acme AB")}
    again = shop.ingest("company", [renamed, BETA])
    assert (again.result.counts.unchanged, again.fired) == (2, [])


def test_company_contacts_joining_leaving_and_changing_role_are_one_notification(
    shop: Shop,
) -> None:
    """A contact joins, one leaves and one changes role: one notification for the contacts
    table, explained by an insert, a delete and an update of RoleCode alone; the contacts
    reordered are no change."""
    shop.ingest("company", [ACME], baseline=True)
    admin = BUYER | {"RoleCode": "ADMIN"}
    joined = {"CustomerCode": "C3", "CustomerId": 503, "RoleCode": "BUYER"}
    run = shop.ingest("company", [ACME | {"Customers": [joined, admin]}])
    assert run.fired == [company_fired(77, "tClientCustomer")]
    why = {m.row["CustomerCode"]: (m.op, m.fields) for m in run.why(run.fired[0])}
    assert why == {
        "C1": ("update", {"RoleCode": ("BUYER", "ADMIN")}),
        "C2": ("delete", {k: (v, ABSENT) for k, v in VIEWER.items()}),
        "C3": ("insert", {k: (ABSENT, v) for k, v in joined.items()}),
    }
    reordered = shop.ingest("company", [ACME | {"Customers": [admin, joined]}])
    assert reordered.fired == []


def test_company_nested_lists_each_notify_their_own_table(shop: Shop) -> None:
    """Addresses emptied, a payment method added and a discount changed: one notification per
    table, a delete, an insert and an update of DiscountPercentage."""
    shop.ingest("company", [ACME], baseline=True)
    changed = ACME | {
        "Addresses": [],
        "PaymentMethods": [*ACME["PaymentMethods"], {"PaymentMethodId": 4, "Code": "CARD"}],
        "Discounts": [ACME["Discounts"][0] | {"DiscountPercentage": 12.5}],
    }
    run = shop.ingest("company", [changed])
    tables = ("tClientCompanyAddress", "tClientCompanyPaymentMethod", "tClientCompanyDiscount")
    assert run.fired == expect(*(company_fired(77, t) for t in tables))
    ops = [[m.op for m in run.why(company_fired(77, t))] for t in tables]
    assert ops == [["delete"], ["insert"], ["update"]]
    (discount,) = run.why(company_fired(77, "tClientCompanyDiscount"))
    assert discount.fields == {"DiscountPercentage": (10, 12.5)}


def test_a_full_company_feed_deactivates_the_companies_it_left_out(shop: Shop) -> None:
    """Left out of a full feed, a company is deactivated and notified once for its own table;
    its contacts are kept and not notified."""
    shop.ingest("company", [ACME, BETA], baseline=True)
    run = shop.ingest("company", [BETA], mode="full")
    assert run.fired == [company_fired(77, COMPANY)]
    assert run.why(company_fired(77, COMPANY))[0].fields == {"IsActive": (True, False)}
    body = shop.snapshot("company", "K1")
    assert (body["IsActive"], sorted(body["Customers"])) == (False, ["C1", "C2"])


def test_a_customer_and_a_company_contact_share_a_table_not_their_settings(shop: Shop) -> None:
    """tClientCustomer is the root of customer and the contacts of company: a customer's own
    change notifies only the customer, a contact's change only its company."""
    shop.ingest("customer", [ANN], baseline=True)
    shop.ingest("company", [ACME], baseline=True)
    own = shop.ingest("customer", [ANN | {"LastName": "Ek"}])
    assert own.fired == [customer_fired(501, CUSTOMER)]
    contact = shop.ingest(
        "company", [ACME | {"Customers": [BUYER | {"RoleCode": "ADMIN"}, VIEWER]}]
    )
    assert contact.fired == [company_fired(77, "tClientCustomer")]
