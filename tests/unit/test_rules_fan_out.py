"""Fan-out settings at load time: checked like any setting, with located errors."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from deltahook.catalog.entities import Catalog
from deltahook.catalog.events import EventCatalog
from deltahook.errors import RuleError
from deltahook.rules.fanout import FanOut
from deltahook.rules.loader import load_rules

RULE = """\
format_version: 1
rules:
  - notification: SkuChangedNotification
    payload: {{PartNo: row.PartNo, EntityChanged: setting.table}}
    settings:
      - id: maker
        table: {table}
{body}
"""


def problems(tmp_path: Path, text: str, catalog: Catalog, events: EventCatalog) -> list[str]:
    (tmp_path / "rules.yaml").write_text(textwrap.dedent(text))
    with pytest.raises(RuleError) as caught:
        load_rules(tmp_path, catalog=catalog, events=events, constants={"ClientId": 1})
    return [str(p).replace(str(tmp_path) + "/", "") for p in caught.value.problems]


@pytest.mark.parametrize(
    ("table", "body", "expected"),
    [
        (
            "tClientManufacturer",
            "        fan_out: skus\n        on: [update]\n        watch: [Name]",
            "rules.yaml:8:18: fan_out: 'skus' does not reference 'manufacturer' (kinds that do: "
            "sku)",
        ),
        (
            "tClientCustomerFlag",
            "        fan_out: sku\n        on: [insert]",
            "rules.yaml:8:18: fan_out: 'sku' does not reference 'customer' (no kind does)",
        ),
        (
            "tClientManufacturer",
            "        on: [update]\n        watch: [Name]",
            "rules.yaml:4:23: payload PartNo: tClientManufacturer has no field 'PartNo'",
        ),
        (
            "tClientManufacturer",
            "        fan_out: sku\n        on: [update]\n        watch: [Nmae]",
            "rules.yaml:10:17: watch 'Nmae' matches no field of tClientManufacturer",
        ),
    ],
)
def test_a_wrong_fan_out_setting_is_a_located_error(
    tmp_path: Path, catalog: Catalog, events: EventCatalog, table: str, body: str, expected: str
) -> None:
    """A fan_out naming a kind that does not reference the table's kind, a shared table
    without fan_out (its rows have no PartNo), or a misspelt watch: file:line:col."""
    found = problems(tmp_path, RULE.format(table=table, body=body), catalog, events)
    assert any(p.startswith(expected) for p in found), found


def test_a_fan_out_setting_reads_the_referrer_key_and_the_shared_row(
    tmp_path: Path, catalog: Catalog, events: EventCatalog
) -> None:
    """With fan_out the payload reads row.PartNo (the SKU's key) and the filter the
    manufacturer's own row."""
    body = "        fan_out: sku\n        on: [update]\n        watch: [Name]\n"
    body += "        filter: {new.IsActive: true}"
    (tmp_path / "rules.yaml").write_text(RULE.format(table="tClientManufacturer", body=body))
    (setting,) = load_rules(tmp_path, catalog=catalog, events=events, constants={"ClientId": 1})
    assert setting.kind == "manufacturer"
    assert setting.fan_out == FanOut(kind="sku", key=("PartNo",), integers=frozenset())


def test_a_referrer_key_string_gives_back_typed_key_fields() -> None:
    """A price row's stored key 'P|1\\|2|10' gives PartNo, PriceListCode and an integer break."""
    fan = FanOut(
        kind="sku_price",
        key=("PartNo", "PriceListCode", "QuantityBreak"),
        integers=frozenset({"QuantityBreak"}),
    )
    assert fan.key_values("P|1\\|2|10") == {
        "PartNo": "P",
        "PriceListCode": "1|2",
        "QuantityBreak": 10,
    }
