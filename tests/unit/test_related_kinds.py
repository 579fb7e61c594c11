"""The shared entity kinds (manufacturer, category, price list, account) and their references."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deltahook.catalog.describe import describe_kind
from deltahook.catalog.entities import load_catalog
from deltahook.errors import CatalogError
from tests.conftest import REPO

SHIPPED = REPO / "schemas" / "entities"


def test_shared_kinds_carry_the_platform_tables() -> None:
    """Every EntityChanged value of the platform's SKU and customer types is a table of a kind."""
    catalog = load_catalog(SHIPPED)
    tables = {table for kind in catalog for table, _ in kind.tables()}
    assert {
        "tApplicationPriceList",
        "tCategory",
        "tCategoryCulture",
        "tCategorySalesArea",
        "tClientManufacturer",
        "tApplicationAccount",
    } <= tables
    assert dict(catalog["category"].tables()).keys() == {
        "tCategory",
        "tCategoryCulture",
        "tCategorySalesArea",
    }
    account = catalog["account"]
    assert account.parent is not None
    assert account.parent.kind == "customer"


def test_sku_declares_which_fields_reference_which_kind() -> None:
    """The SKU's annotation says ManufacturerCode points at a manufacturer, Categories at
    categories; a price row's PriceListCode at a price list."""
    catalog = load_catalog(SHIPPED)
    refs = {(r.kind, r.path) for r in catalog["sku"].references}
    assert refs == {
        ("manufacturer", ("ManufacturerCode",)),
        ("category", ("Categories", "CategoryCode")),
    }
    assert {(r.kind, r.path) for r in catalog["sku_price"].references} == {
        ("price_list", ("PriceListCode",))
    }
    sku = catalog["sku"]
    body = {
        "PartNo": "A",
        "ManufacturerCode": "M1",
        "Categories": [{"CategoryCode": "C1"}, {"CategoryCode": "C2"}],
    }
    assert sorted(sku.referenced(body)) == [
        ("category", "C1"),
        ("category", "C2"),
        ("manufacturer", "M1"),
    ]
    assert sku.referenced({"PartNo": "B"}) == set()


def _copy_with(tmp_path: Path, references: object) -> Path:
    for path in SHIPPED.glob("*.json"):
        (tmp_path / path.name).write_bytes(path.read_bytes())
    sku = json.loads((SHIPPED / "sku.json").read_text())
    sku["x-deltahook"]["references"] = references
    (tmp_path / "sku.json").write_text(json.dumps(sku))
    return tmp_path


@pytest.mark.parametrize(
    ("references", "message"),
    [
        ({"ManufacturerCode": "maker"}, "references unknown kind 'maker'"),
        ({"Brand": "manufacturer"}, "names unknown field 'Brand'"),
        ({"Categories.Code": "category"}, "names unknown field 'Categories.Code'"),
        ({"ManufacturerCode": "sku_price"}, "key of one field"),
        (["ManufacturerCode"], "references must be an object"),
    ],
)
def test_a_wrong_reference_is_refused_naming_the_file(
    tmp_path: Path, references: object, message: str
) -> None:
    """A reference to an unknown kind or field, or to a kind keyed by several fields, fails at
    load time naming the schema file."""
    with pytest.raises(CatalogError) as caught:
        load_catalog(_copy_with(tmp_path, references))
    assert message in str(caught.value)
    assert "sku.json" in str(caught.value)


def test_describe_lists_tables_keys_fields_and_references() -> None:
    """The description of a kind names each table with its key and typed fields."""
    catalog = load_catalog(SHIPPED)
    described = describe_kind(catalog, "category")
    tables = {t["table"]: t for t in described["tables"]}
    assert tables["tCategoryCulture"]["key"] == ["CategoryCode", "CultureCode"]
    assert {
        "field": "Name",
        "types": ["string"],
        "description": "Display name of the category.",
    } in tables["tCategoryCulture"]["fields"]
    assert described["referenced_by"] == [{"kind": "sku", "field": "Categories.CategoryCode"}]
    sku = describe_kind(catalog, "sku")
    assert sku["references"] == [
        {"field": "Categories.CategoryCode", "kind": "category"},
        {"field": "ManufacturerCode", "kind": "manufacturer"},
    ]
    assert sku["tables"][0] == sku["tables"][0] | {"table": "tClientProductSku", "key": ["PartNo"]}
