"""Boundaries and field references as a user meets them: `rules check` and `preview` agree."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
from click.testing import CliRunner

from deltahook.cli import main

PRICES = """\
format_version: 1
rules:
  - notification: SkuPriceChangedNotification
    payload:
      PartNo: row.PartNo
      PricelistId: row.PricelistId
      PriceSaleValue: new.PriceSale
    settings:
      - id: more-than-5pct
        table: tClientProductSkuPriceList
        on: [update]
        watch: [PriceSale]
        threshold: {field: PriceSale, pct: 5, boundary: strict}
      - id: on-sale
        table: tClientProductSkuPriceList
        on: [insert]
        filter:
          parent.StatusId: 1
          new.PriceSale: {lt: {ref: new.PriceRecommended}}
"""

STOCK = """\
format_version: 1
rules:
  - notification: SkuOnHandBreakPointNotification
    payload:
      PartNo: row.PartNo
      WarehouseId: row.WarehouseId
      LocationId: row.LocationId
      OnHandValue: new.OnhandValue
      MinimumValue: new.MinimumValue
    settings:
      - id: drop
        table: tClientProductSkuOnHand
        breakpoint: {field: OnhandValue, threshold: MinimumValue}
      - id: recovery
        table: tClientProductSkuOnHand
        breakpoint: {field: OnhandValue, threshold: MinimumValue, direction: up, boundary: strict}
"""


def run(tmp_path: Path, rules: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner(env={"DELTAHOOK_RULES_DIR": str(rules)}).invoke(
        main,
        ["--database-url", f"sqlite:///{tmp_path / 'db.sqlite'}", *args],
        catch_exceptions=False,
    )
    return result.exit_code, result.stdout, result.stderr


def folder(tmp_path: Path, **files: str) -> Path:
    rules = tmp_path / "rules"
    rules.mkdir()
    for name, text in files.items():
        (rules / f"{name}.yaml").write_text(text)
    return rules


def test_rules_check_accepts_boundaries_and_references(tmp_path: Path) -> None:
    """A strict threshold, a strict recovery, a two-field filter and parent.X all load."""
    rules = folder(tmp_path, prices=PRICES, stock=STOCK)
    code, out, _ = run(tmp_path, rules, "rules", "check", str(rules))
    assert code == 0
    assert out.startswith("ok: 4 settings for 2 notification types in 2 files")


def test_rules_check_locates_a_bad_boundary_and_a_misspelt_reference(tmp_path: Path) -> None:
    """Each mistake is one file:line:col line with a suggestion, and the exit is non-zero."""
    broken = PRICES.replace("boundary: strict", "boundary: strcit").replace(
        "ref: new.PriceRecommended", "ref: new.PriceRecomended"
    )
    rules = folder(tmp_path, prices=broken)
    code, _, err = run(tmp_path, rules, "rules", "check", str(rules))
    assert code == 1
    where = rules / "prices.yaml"
    assert err.splitlines() == [
        f"{where}:13:57: boundary must be inclusive or strict, not 'strcit' "
        "(did you mean 'strict'?)",
        f"{where}:19:37: tClientProductSkuPriceList has no field 'PriceRecomended' "
        "(did you mean 'PriceRecommended'?)",
        f"2 problem(s) in {rules}",
    ]


def preview(tmp_path: Path, rules: Path, kind: str, before: Any, after: Any) -> dict[str, Any]:
    (tmp_path / "before.json").write_bytes(orjson.dumps(before))
    (tmp_path / "after.json").write_bytes(orjson.dumps(after))
    code, out, _ = run(
        tmp_path,
        rules,
        "preview",
        kind,
        "--before",
        str(tmp_path / "before.json"),
        "--after",
        str(tmp_path / "after.json"),
        "--explain",
        "--json",
    )
    assert code == 0
    result: dict[str, Any] = json.loads(out)
    return result


def test_preview_explains_a_strict_threshold(tmp_path: Path) -> None:
    """100 -> 105 is not more than 5%: the near miss says so; 100 -> 106 fires."""
    rules = folder(tmp_path, prices=PRICES)
    price = {"PartNo": "P1", "PriceListCode": "SE", "PricelistId": 12, "QuantityBreak": 1}
    exact = preview(
        tmp_path, rules, "sku_price", price | {"PriceSale": 100}, price | {"PriceSale": 105}
    )
    assert exact["notifications"] == []
    (miss,) = [m for m in exact["near_misses"] if m["reason"] == "threshold"]
    assert miss["detail"]["boundary"] == "strict"
    more = preview(
        tmp_path, rules, "sku_price", price | {"PriceSale": 100}, price | {"PriceSale": 106}
    )
    assert [n["payload"]["PriceSaleValue"] for n in more["notifications"]] == [106]


def test_preview_of_a_drop_and_a_recovery_shows_different_values(tmp_path: Path) -> None:
    """5 -> 3 (minimum 3) fires the drop at 3; 3 -> 4 fires the recovery at 4, not at 3."""
    rules = folder(tmp_path, stock=STOCK)
    row = {"PartNo": "P1", "WarehouseCode": "W", "WarehouseId": 3, "LocationCode": "L"}
    row |= {"LocationId": 7, "MinimumValue": 3}
    drop = preview(
        tmp_path, rules, "sku_onhand", row | {"OnhandValue": 5}, row | {"OnhandValue": 3}
    )
    back = preview(
        tmp_path, rules, "sku_onhand", row | {"OnhandValue": 3}, row | {"OnhandValue": 4}
    )
    fired = [
        [
            (n["explanation"]["settings"], n["payload"]["OnHandValue"])
            for n in result["notifications"]
        ]
        for result in (drop, back)
    ]
    assert fired == [
        [(["SkuOnHandBreakPointNotification/drop"], 3)],
        [(["SkuOnHandBreakPointNotification/recovery"], 4)],
    ]
