"""Loading ``boundary`` (strict or inclusive) and ``setting.direction`` from rule files."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest

from deltahook.catalog.entities import Catalog
from deltahook.catalog.events import EventCatalog, load_event_catalog
from deltahook.errors import RuleError
from deltahook.rules.loader import load_rules
from deltahook.rules.model import RuleSet
from tests.conftest import REPO

CONSTANTS = {"ClientId": 1042, "ApplicationId": 1}

STOCK_RULE = """\
format_version: 1
rules:
  - notification: SkuOnHandBreakPointNotification
    settings:
      - id: back
        table: tClientProductSkuOnHand
        breakpoint:
          field: OnhandValue
          threshold: MinimumValue
          direction: up
          {boundary}
        payload:
          PartNo: row.PartNo
          WarehouseId: row.WarehouseId
          LocationId: row.LocationId
          OnHandValue: new.OnhandValue
          MinimumValue: new.MinimumValue
          {extra}
"""

PRICE_RULE = """\
format_version: 1
rules:
  - notification: SkuPriceChangedNotification
    settings:
      - id: big
        table: tClientProductSkuPriceList
        on: [update]
        watch: [PriceSale]
        threshold: {{field: PriceSale, pct: 5, {boundary}}}
        payload:
          PartNo: row.PartNo
          PricelistId: row.PricelistId
          PriceSaleValue: new.PriceSale
          {extra}
"""


def load_text(tmp_path: Path, text: str, catalog: Catalog, events: EventCatalog) -> RuleSet:
    folder = tmp_path / "rules"
    folder.mkdir(exist_ok=True)
    (folder / "rules.yaml").write_text(textwrap.dedent(text))
    return load_rules(folder, catalog=catalog, events=events, constants=CONSTANTS)


def problems(tmp_path: Path, text: str, catalog: Catalog, events: EventCatalog) -> list[str]:
    with pytest.raises(RuleError) as caught:
        load_text(tmp_path, text, catalog, events)
    return [str(p).replace(str(tmp_path / "rules") + "/", "") for p in caught.value.problems]


def test_boundary_defaults_to_inclusive_and_can_say_strict(
    tmp_path: Path, catalog: Catalog, events: EventCatalog
) -> None:
    """Without boundary a threshold and a breakpoint count the amount itself; strict does not."""
    default = load_text(tmp_path, STOCK_RULE.format(boundary="", extra=""), catalog, events)
    (setting,) = default
    assert setting.breakpoint is not None
    assert setting.breakpoint.boundary == "inclusive"
    strict = STOCK_RULE.format(boundary="boundary: strict", extra="")
    (setting,) = load_text(tmp_path, strict, catalog, events)
    assert setting.breakpoint is not None
    assert setting.breakpoint.boundary == "strict"
    price = PRICE_RULE.format(boundary="boundary: strict", extra="")
    (setting,) = load_text(tmp_path, price, catalog, events)
    assert setting.threshold is not None
    assert setting.threshold.boundary == "strict"


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        # a misspelt breakpoint boundary
        (
            STOCK_RULE.format(boundary="boundary: strcit", extra=""),
            "rules.yaml:11:21: boundary must be inclusive or strict, not 'strcit'",
        ),
        # a threshold boundary that is not a word
        (
            PRICE_RULE.format(boundary="boundary: true", extra=""),
            "rules.yaml:9:57: boundary must be inclusive or strict, not True",
        ),
        # the shipped breakpoint type has no property for the direction
        (
            STOCK_RULE.format(boundary="", extra="Direction: setting.direction"),
            "rules.yaml:18:22: SkuOnHandBreakPointNotification has no property 'Direction'",
        ),
        # only a breakpoint setting has a direction
        (
            PRICE_RULE.format(boundary="", extra="PricelistCode: setting.direction"),
            "rules.yaml:14:26: payload PricelistCode: setting.direction is known only for a "
            "breakpoint setting",
        ),
    ],
)
def test_each_mistake_is_located(
    tmp_path: Path, catalog: Catalog, events: EventCatalog, rule: str, expected: str
) -> None:
    """A bad boundary or direction mapping names the file, line and column."""
    found = problems(tmp_path, rule, catalog, events)
    assert any(p.startswith(expected) for p in found), found


def with_direction_property(tmp_path: Path) -> EventCatalog:
    """The shipped event types, with an optional Direction on the breakpoint notification."""
    folder = tmp_path / "events"
    shutil.copytree(REPO / "schemas" / "events", folder)
    path = folder / "SkuOnHandBreakPointNotification.json"
    schema = json.loads(path.read_text())
    schema["properties"]["Direction"] = {"type": "string", "enum": ["down", "up"]}
    path.write_text(json.dumps(schema))
    return load_event_catalog(folder)


def test_a_schema_with_a_direction_property_can_carry_the_direction(
    tmp_path: Path, catalog: Catalog
) -> None:
    """Where the event schema has a Direction property, setting.direction fills it."""
    rule = STOCK_RULE.format(boundary="", extra="Direction: setting.direction")
    (setting,) = load_text(tmp_path, rule, catalog, with_direction_property(tmp_path))
    (direction,) = [getter for name, getter in setting.payload.fields if name == "Direction"]
    assert direction(None) == "up"  # type: ignore[arg-type]  # a constant needs no row
