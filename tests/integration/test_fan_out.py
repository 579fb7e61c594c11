"""Related-entity fan-out on a real store: a change to a shared entity (a manufacturer, a
category, a price list) notifies every SKU that references it, in the same transaction."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from deltahook.config import Settings
from deltahook.engine import Engine
from deltahook.store.tables import entity_refs
from tests.integration.test_rules_ingest import SKU_CHANGED, ingest, ndjson, of_type

CUSTOMER_CHANGED = "CustomerChangedNotification"


def sku(part: str, maker: str | None, *categories: str) -> dict[str, Any]:
    record: dict[str, Any] = {"PartNo": part}
    if maker is not None:
        record["ManufacturerCode"] = maker
    if categories:
        record["Categories"] = [
            {"CategoryCode": code, "IsPrimary": i == 0} for i, code in enumerate(categories)
        ]
    return record


def maker(code: str, name: str) -> dict[str, Any]:
    return {"ManufacturerCode": code, "Name": name, "IsActive": True}


def category(code: str, name: str) -> dict[str, Any]:
    return {"CategoryCode": code, "Cultures": [{"CultureCode": "sv-SE", "Name": name}]}


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    settings = Settings(database_url=database_url, batch_size=2)
    with Engine.from_settings(settings) as engine:
        yield engine


def changed(engine: Engine, kind: str, records: list[dict[str, Any]], type_: str) -> set[Any]:
    return {
        (n.payload.get("PartNo", n.payload.get("CustomerId")), n.payload["EntityChanged"])
        for n in of_type(ingest(engine, kind, records), type_)
    }


def test_a_manufacturer_rename_notifies_exactly_its_skus(engine: Engine) -> None:
    """Renaming NORD fires one SkuChangedNotification (tClientManufacturer) per SKU naming
    NORD, across several pages of references; the other SKUs get nothing; again: nothing."""
    ingest(engine, "manufacturer", [maker("NORD", "Nordlys"), maker("KVIST", "Kvist")])
    ingest(engine, "sku", [sku(f"N{i}", "NORD") for i in range(5)] + [sku("K1", "KVIST")])
    renamed = [maker("NORD", "Nordlys AB")]
    got = changed(engine, "manufacturer", renamed, SKU_CHANGED)
    assert got == {(f"N{i}", "tClientManufacturer") for i in range(5)}
    assert changed(engine, "manufacturer", renamed, SKU_CHANGED) == set()


def test_a_sku_that_moves_to_another_manufacturer_follows_it(engine: Engine) -> None:
    """References are rewritten with the SKU: after N1 moves to KVIST, a NORD rename skips it
    and a KVIST rename reaches it; the store holds one reference per SKU."""
    ingest(engine, "manufacturer", [maker("NORD", "Nordlys"), maker("KVIST", "Kvist")])
    ingest(engine, "sku", [sku("N1", "NORD"), sku("N2", "NORD")])
    ingest(engine, "sku", [sku("N1", "KVIST")])
    assert changed(engine, "manufacturer", [maker("NORD", "N")], SKU_CHANGED) == {
        ("N2", "tClientManufacturer")
    }
    assert changed(engine, "manufacturer", [maker("KVIST", "K")], SKU_CHANGED) == {
        ("N1", "tClientManufacturer")
    }
    with engine.db.connect() as conn:
        rows = set(conn.execute(select(entity_refs.c.key, entity_refs.c.ref_key)))
    assert rows == {("N1", "KVIST"), ("N2", "NORD")}


def test_a_rewritten_skus_references_are_what_its_new_body_names(engine: Engine) -> None:
    """A changed SKU keeps the references it still names, gains the new ones and loses the
    others (only the difference is written); one whose references did not change keeps them;
    one that names nothing any more has none."""
    ingest(engine, "sku", [sku("S1", "NORD", "TENTS", "BAGS"), sku("S2", "NORD", "TENTS")])
    ingest(
        engine,
        "sku",
        [sku("S1", "KVIST", "BAGS", "ROPES"), {**sku("S2", "NORD", "TENTS"), "EanCode": "1"}],
    )
    with engine.db.connect() as conn:
        rows = set(
            conn.execute(select(entity_refs.c.key, entity_refs.c.ref_kind, entity_refs.c.ref_key))
        )
    assert rows == {
        ("S1", "manufacturer", "KVIST"),
        ("S1", "category", "BAGS"),
        ("S1", "category", "ROPES"),
        ("S2", "manufacturer", "NORD"),
        ("S2", "category", "TENTS"),
    }
    ingest(engine, "sku", [sku("S1", None)])
    with engine.db.connect() as conn:
        keys = {key for (key,) in conn.execute(select(entity_refs.c.key))}
    assert keys == {"S2"}


def test_a_category_culture_change_notifies_the_categorys_skus(engine: Engine) -> None:
    """A new name in sv-SE for TENTS fires tCategoryCulture for the SKUs linked to TENTS."""
    ingest(engine, "category", [category("TENTS", "Tält"), category("BAGS", "Väskor")])
    ingest(engine, "sku", [sku("T1", None, "TENTS"), sku("T2", None, "BAGS", "TENTS")])
    ingest(engine, "sku", [sku("B1", None, "BAGS")])
    got = changed(engine, "category", [category("TENTS", "Tält & skydd")], SKU_CHANGED)
    assert got == {("T1", "tCategoryCulture"), ("T2", "tCategoryCulture")}


def test_an_account_change_notifies_its_customer(engine: Engine) -> None:
    """A locked-out account fires CustomerChangedNotification (tApplicationAccount) with the
    customer's id; its other customer gets nothing."""
    customers = [
        {"CustomerCode": "C1", "CustomerId": 11},
        {"CustomerCode": "C2", "CustomerId": 12},
    ]
    ingest(engine, "customer", customers)
    account = {"UserName": "anna", "CustomerCode": "C1", "IsLockedOut": False}
    ingest(engine, "account", [account, {"UserName": "bo", "CustomerCode": "C2"}])
    locked = [account | {"IsLockedOut": True}]
    assert changed(engine, "account", locked, CUSTOMER_CHANGED) == {(11, "tApplicationAccount")}
    assert changed(engine, "account", locked, CUSTOMER_CHANGED) == set()


NARROW = """\
format_version: 1
rules:
  - notification: SkuChangedNotification
    payload: {PartNo: row.PartNo, EntityChanged: setting.table}
    settings:
      - id: sub-category-texts
        table: tCategoryCulture
        fan_out: sku
        on: [update]
        watch: [Name]
        filter: {entity.ParentCategoryCode: {ne: null}}
"""


def test_a_filter_on_the_category_limits_the_fan_out(database_url: str, tmp_path: Path) -> None:
    """With a filter leaving top categories out, a preview of renaming the top category TENTS
    notifies no SKU and says the filter refused it; renaming its child DOMES notifies T1, and
    the explanation names the category it came through."""
    (tmp_path / "rules.yaml").write_text(NARROW)
    settings = Settings(database_url=database_url, rules_dir=tmp_path)
    with Engine.from_settings(settings) as engine:
        top = category("TENTS", "Tält") | {"ParentCategoryCode": None}
        child = category("DOMES", "Kupoltält") | {"ParentCategoryCode": "TENTS"}
        ingest(engine, "category", [top, child])
        ingest(engine, "sku", [sku("T1", None, "TENTS", "DOMES")])
        renamed = category("TENTS", "Tält!") | {"ParentCategoryCode": None}
        preview = engine.preview("category", ndjson([renamed]), fmt="ndjson", explain=True)
        assert preview.notifications == []
        assert [m["reason"] for m in preview.near_misses] == ["filter"]
        renamed = category("DOMES", "Kupol") | {"ParentCategoryCode": "TENTS"}
        (fired,) = engine.preview("category", ndjson([renamed]), fmt="ndjson").notifications
        assert fired.payload["PartNo"] == "T1"
        assert (fired.entity_kind, fired.entity_key) == ("sku", "T1")
        (match,) = fired.explanation["matches"]
        assert match["via"] == {"kind": "category", "key": "DOMES"}
        assert match["referrer"] == {"kind": "sku", "key": "T1"}


def test_references_of_snapshots_stored_before_them_are_rebuilt(engine: Engine) -> None:
    """SKUs stored without references (before the upgrade) are reached by no fan-out until
    rebuild_references reads their snapshots, a batch at a time; then a rename reaches them."""
    ingest(engine, "manufacturer", [maker("NORD", "Nordlys")])
    ingest(engine, "sku", [sku(f"N{i}", "NORD", "TENTS") for i in range(5)])
    with engine.db.begin() as conn:
        conn.execute(entity_refs.delete())
    assert changed(engine, "manufacturer", [maker("NORD", "N1")], SKU_CHANGED) == set()
    assert engine.rebuild_references() == {"sku": (5, 10), "sku_price": (0, 0)}
    assert changed(engine, "manufacturer", [maker("NORD", "N2")], SKU_CHANGED) == {
        (f"N{i}", "tClientManufacturer") for i in range(5)
    }
    assert engine.rebuild_references("sku") == {"sku": (5, 10)}
