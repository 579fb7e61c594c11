"""The entity catalog: shipped kinds load, bad annotations are refused with the file named."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from deltahook.catalog.entities import load_catalog
from deltahook.errors import CatalogError
from tests.conftest import REPO

SHIPPED = REPO / "schemas" / "entities"


def test_shipped_kinds_load_with_their_tables() -> None:
    """Every shipped kind is there, with the Norce table names."""
    catalog = load_catalog(SHIPPED)
    assert {k.name for k in catalog} >= {
        "sku",
        "sku_price",
        "sku_onhand",
        "customer",
        "company",
        "supplier_sku",
        "supplier_sku_price",
        "supplier_sku_onhand",
    }
    tables = dict(catalog["sku"].tables())
    assert {"tClientProductSku", "tClientProductSkuCulture"} <= set(tables)
    assert catalog["sku_onhand"].key == ("PartNo", "WarehouseCode", "LocationCode")
    assert catalog["sku_price"].parent is not None
    assert catalog["sku_price"].parent.kind == "sku"
    assert catalog["sku_onhand"].is_flat
    assert not catalog["sku"].is_flat


def _write(tmp_path: Path, note: dict[str, Any], **extra: Any) -> Path:
    schema = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "required": ["Code"],
        "properties": {
            "Code": {"type": "string"},
            "Rows": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["K"],
                    "properties": {"K": {"type": "string"}},
                },
            },
        },
        "x-deltahook": note,
        **extra,
    }
    (tmp_path / "thing.json").write_text(json.dumps(schema))
    return tmp_path


GOOD = {"kind": "thing", "table": "tThing", "key": ["Code"]}


def test_a_dropped_in_schema_adds_a_kind(tmp_path: Path) -> None:
    """A user adds a kind by writing one annotated schema."""
    note = GOOD | {"collections": {"Rows": {"table": "tThingRow", "key": ["K"]}}}
    catalog = load_catalog(_write(tmp_path, note))
    assert dict(catalog["thing"].tables()) == {
        "tThing": frozenset({"Code"}),
        "tThingRow": frozenset({"K"}),
    }


@pytest.mark.parametrize(
    ("note", "message"),
    [
        (GOOD | {"kind": "other"}, "must match the file name"),  # kind != file stem
        (GOOD | {"key": ["Nope"]}, "unknown field 'Nope'"),  # key not a property
        (GOOD | {"tabel": "x"}, "unknown annotation keys: tabel"),  # a typo
        ({"kind": "thing", "key": ["Code"]}, "'table' must be a non-empty string"),
        (GOOD | {"parent": {"kind": "ghost", "fields": ["Code"]}}, "parent kind 'ghost'"),
        (GOOD | {"on_missing": "shred"}, "on_missing must be"),
        (GOOD | {"collections": {"Code": {"table": "t", "key": ["K"]}}}, "array property"),
        (GOOD | {"collections": {"Rows": {"table": "t", "key": ["X"]}}}, "unknown field 'X'"),
    ],
)
def test_bad_annotations_are_refused(tmp_path: Path, note: dict[str, Any], message: str) -> None:
    """Each kind of mistake gets a message naming the file and what is wrong."""
    with pytest.raises(CatalogError, match=message) as info:
        load_catalog(_write(tmp_path, note))
    assert "thing.json" in str(info.value)


def test_invalid_json_schema_is_refused(tmp_path: Path) -> None:
    """A schema that is not valid JSON Schema fails at start."""
    with pytest.raises(CatalogError, match="invalid JSON Schema"):
        load_catalog(_write(tmp_path, GOOD, required="Code"))


def test_unknown_kind_lists_the_known_ones() -> None:
    """Asking for a kind that does not exist says which ones do."""
    with pytest.raises(CatalogError, match="known kinds: account, category, company"):
        load_catalog(SHIPPED)["skus"]
