"""The rules commands as a user meets them: check, test, preview, types, schema, emit."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from deltahook.cli import main
from deltahook.feeds import values
from tests.conftest import REPO


def run(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        main,
        ["--database-url", f"sqlite:///{tmp_path / 'db.sqlite'}", *args],
        catch_exceptions=False,
    )
    return result.exit_code, result.stdout, result.stderr


def write_json(path: Path, data: Any) -> Path:
    path.write_bytes(orjson.dumps(data))
    return path


def stock(onhand: int, minimum: int = 3) -> dict[str, Any]:
    return {
        "PartNo": "P1",
        "WarehouseCode": "STO",
        "WarehouseId": 3,
        "LocationCode": "A-12",
        "LocationId": 7,
        "OnhandValue": onhand,
        "MinimumValue": minimum,
    }


def test_rules_check_accepts_the_shipped_rules(tmp_path: Path) -> None:
    """`rules check` on the shipped set says how much it loaded and exits 0."""
    code, out, _ = run(tmp_path, "rules", "check")
    assert code == 0
    assert out.startswith("ok: 34 settings for 9 notification types in 6 files")


def test_rules_check_lists_every_problem_with_its_place(tmp_path: Path) -> None:
    """A broken folder gives one file:line:col line per problem and a non-zero exit."""
    (tmp_path / "bad.yaml").write_text(
        "format_version: 1\n"
        "rules:\n"
        "  - notification: SkuChangedNotification\n"
        "    payload: {PartNo: row.PartNo, EntityChanged: setting.table}\n"
        "    settings:\n"
        "      - {id: a, table: tClientProductSku, on: [update], watch: [Colour]}\n"
        "      - {id: b, table: tNope, on: [insert]}\n"
    )
    code, _, err = run(tmp_path, "rules", "check", str(tmp_path))
    assert code == 1
    lines = err.strip().splitlines()
    assert lines == [
        f"{tmp_path / 'bad.yaml'}:6:65: watch 'Colour' matches no field of tClientProductSku",
        f"{tmp_path / 'bad.yaml'}:7:24: unknown table 'tNope'",
        f"2 problem(s) in {tmp_path}",
    ]


def test_rules_test_runs_the_shipped_rule_tests(tmp_path: Path) -> None:
    """The shipped rule tests pass through the command CI runs."""
    code, out, _ = run(tmp_path, "rules", "test", str(REPO / "rules" / "tests"))
    assert code == 0
    assert out.strip().endswith("28 passed, 0 failed")


def test_a_rule_test_run_that_tests_nothing_fails(tmp_path: Path) -> None:
    """A folder with no test file (the tests moved to a subfolder) and a file of no cases are
    refused, each named: both ran as "0 passed, 0 failed" with exit 0, green in CI."""
    (tmp_path / "tests" / "sku").mkdir(parents=True)
    code, _, err = run(tmp_path, "rules", "test", str(tmp_path / "tests"))
    assert code == 2
    assert f"{tmp_path / 'tests'} holds no *.yaml test file" in err
    empty = tmp_path / "empty.yaml"
    empty.write_text(f"rules: {REPO / 'rules'}\ncases: []\n")
    code, out, err = run(tmp_path, "rules", "test", str(empty))
    assert code == 1
    assert err == f"{empty}:2:8: cases needs at least one case\n"
    assert out.strip() == "0 passed, 1 failed"


def test_a_failing_rule_test_shows_expected_against_fired(tmp_path: Path) -> None:
    """A wrong expectation prints what was expected, what fired, and why it fired."""
    case = tmp_path / "case.yaml"
    case.write_text(
        f"rules: {REPO / 'rules'}\n"
        "cases:\n"
        "  - name: wrong on purpose\n"
        "    only: [SkuOnHandBreakPointNotification]\n"
        f"    given: {{sku_onhand: [{json.dumps(stock(7))}]}}\n"
        f"    feed: {{sku_onhand: [{json.dumps(stock(2))}]}}\n"
        "    expect:\n"
        "      - type: SkuOnHandBreakPointNotification\n"
        "        payload: {OnHandValue: 1}\n"
    )
    code, out, _ = run(tmp_path, "rules", "test", str(case))
    assert code == 1
    assert f"FAIL {case}:3 wrong on purpose" in out
    assert (
        'expected, but not fired:\n      SkuOnHandBreakPointNotification {"OnHandValue":1}' in out
    )
    assert "fired, but not expected:" in out
    assert '"OnHandValue":2' in out
    assert "why: SkuOnHandBreakPointNotification/reorder-point: update" in out
    assert out.strip().endswith("0 passed, 1 failed")


def test_preview_json_shows_type_payload_and_explanation_and_writes_nothing(
    tmp_path: Path,
) -> None:
    """`preview --json` lists each would-be notification; the store is unchanged after."""
    first = write_json(tmp_path / "v1.json", [stock(7)])
    second = write_json(tmp_path / "v2.json", [stock(2)])
    assert run(tmp_path, "ingest", "sku_onhand", str(first))[0] == 0
    code, out, _ = run(tmp_path, "preview", "sku_onhand", str(second), "--json")
    assert code == 0
    doc = json.loads(out)
    fired = {n["type"]: n for n in doc["notifications"]}
    breakpoint = fired["SkuOnHandBreakPointNotification"]
    assert breakpoint["payload"]["OnHandValue"] == 2
    assert breakpoint["explanation"]["matches"][0]["breakpoint"]["why"] == "crossed: 7 -> 2 <= 3"
    again = json.loads(run(tmp_path, "preview", "sku_onhand", str(second), "--json")[1])
    assert [n["payload"] for n in again["notifications"]] == [
        n["payload"] for n in doc["notifications"]
    ]


def test_preview_of_a_pair_explains_the_near_misses(tmp_path: Path) -> None:
    """--before/--after with --explain shows what fired and which settings said no."""
    before = write_json(tmp_path / "before.json", stock(7))
    after = write_json(tmp_path / "after.json", stock(5))
    code, out, _ = run(
        tmp_path,
        "preview",
        "sku_onhand",
        "--before",
        str(before),
        "--after",
        str(after),
        "--explain",
    )
    assert code == 0
    assert "1 notification(s) would fire" in out
    assert "EntityChanged=tClientProductSkuOnHand" in out
    assert "near misses" in out
    assert "did not cross" in out


def test_preview_refuses_an_after_that_holds_a_name_twice(tmp_path: Path) -> None:
    """--after read as a feed record is: a name written twice is one error line naming it,
    not the last of its values taken without a word."""
    after = tmp_path / "after.json"
    after.write_text('{"PartNo": "P1", "OnhandValue": 1, "OnhandValue": 5}')
    code, out, err = run(tmp_path, "preview", "sku_onhand", "--after", str(after))
    assert (code, out) == (1, "")
    assert err.strip() == f"error: {after}: 'OnhandValue' {values.REPEATED}"


def test_preview_needs_a_feed_or_a_pair(tmp_path: Path) -> None:
    """Neither a feed nor --after is one clear error line."""
    code, _, err = run(tmp_path, "preview", "sku_onhand")
    assert code == 1
    assert err.strip() == "error: give either a FEED file or --after (with --before for a change)"


def test_types_lists_families_and_who_uses_each_type(tmp_path: Path) -> None:
    """`types --json` says which settings fire a type and which subscriptions want it."""
    config = tmp_path / "deltahook.yaml"
    config.write_text(
        f"database_url: sqlite:///{tmp_path / 'db.sqlite'}\n"
        "subscriptions:\n"
        "  - {name: erp, url: 'https://erp.example/hook', event_types: [JobCompletedEvent]}\n"
    )
    result = CliRunner().invoke(main, ["--config", str(config), "types", "--json"])
    assert result.exit_code == 0
    rows = {row["type"]: row for row in json.loads(result.stdout)}
    assert rows["SkuOnHandBreakPointNotification"]["settings"] == [
        "SkuOnHandBreakPointNotification/reorder-point"
    ]
    assert rows["JobCompletedEvent"] | {"description": ""} == {
        "type": "JobCompletedEvent",
        "family": "event",
        "category": "System",
        "description": "",
        "settings": [],
        "subscriptions": ["erp"],
    }


def test_schema_prints_a_types_schema_and_refuses_unknown_names(tmp_path: Path) -> None:
    """`schema TYPE` prints the JSON Schema; a misspelt type gets a suggestion."""
    code, out, _ = run(tmp_path, "schema", "SkuChangedNotification")
    assert code == 0
    assert json.loads(out)["required"] == ["ClientId", "PartNo", "EntityChanged"]
    code, _, err = run(tmp_path, "schema", "SkuChangedNotifcation")
    assert code == 1
    assert "did you mean SkuChangedNotification" in err


def test_schema_kind_shows_an_entity_kinds_tables_keys_and_fields(tmp_path: Path) -> None:
    """`schema --kind sku` lists each table with its key and fields, and what the SKU
    references; --json gives the same as data; an unknown kind is one error line."""
    code, out, _ = run(tmp_path, "schema", "--kind", "sku")
    assert code == 0
    assert "tClientProductSkuCulture  key: PartNo, CultureCode" in out
    assert "ManufacturerCode" in out
    assert "references: ManufacturerCode -> manufacturer" in out
    code, out, _ = run(tmp_path, "schema", "--kind", "manufacturer", "--json")
    assert code == 0
    described = json.loads(out)
    assert described["tables"][0]["table"] == "tClientManufacturer"
    assert described["referenced_by"] == [{"kind": "sku", "field": "ManufacturerCode"}]
    code, _, err = run(tmp_path, "schema", "--kind", "skus")
    assert code == 1
    assert err.startswith("error: ")
    assert "unknown entity kind" in err
    code, _, err = run(tmp_path, "schema")
    assert code != 0
    assert "EVENT_TYPE or --kind" in err


def test_rebuild_references_reads_the_stored_snapshots(tmp_path: Path) -> None:
    """`rebuild-references` says, per kind with references, how many entities it read and
    references it wrote; an unknown kind is one error line."""
    feed = tmp_path / "sku.ndjson"
    feed.write_bytes(b'{"PartNo": "A", "ManufacturerCode": "M"}\n')
    assert run(tmp_path, "ingest", "sku", str(feed))[0] == 0
    code, out, _ = run(tmp_path, "rebuild-references")
    assert code == 0
    assert out.splitlines() == ["sku: 1 entity, 1 reference", "sku_price: 0 entities, 0 references"]
    code, _, err = run(tmp_path, "rebuild-references", "skus")
    assert code == 1
    assert err.startswith("error: skus: unknown entity kind")


def test_emit_records_a_valid_event_and_refuses_an_invalid_one(tmp_path: Path) -> None:
    """`emit` validates against the schema; a bad payload is one error line naming the field."""
    good = write_json(
        tmp_path / "order.json",
        {"OrderId": 9, "OrderNo": "1009", "ClientOrderRef": "W-9", "Source": "web"},
    )
    code, out, _ = run(tmp_path, "emit", "OrderConfirmedEvent", str(good), "--json")
    assert code == 0
    recorded = json.loads(out)
    assert recorded["payload"]["ClientId"] == 1
    assert recorded["family"] == "event"
    bad = write_json(tmp_path / "bad.json", {"OrderId": "nine"})
    code, _, err = run(tmp_path, "emit", "OrderConfirmedEvent", str(bad))
    assert code == 1
    assert err.startswith("error: invalid OrderConfirmedEvent payload:")
    assert "OrderId: 'nine' is not of type 'integer'" in err


@pytest.mark.parametrize(
    ("key", "said"),
    [
        ("", "is empty"),  # the API's header must hold at least one character
        ("k" * 201, "is 201 characters long: at most 200 are allowed"),  # the API's limit
        ("k" * 1000, "is 1,000 characters long: at most 200 are allowed"),
    ],
)
def test_emit_refuses_an_idempotency_key_the_api_would_refuse(
    tmp_path: Path, key: str, said: str
) -> None:
    """`emit --idempotency-key` takes what the API's Idempotency-Key header takes (1 to 200
    characters): an empty or 1,000-character key was recorded; now one line, exit 1, and the
    longest key the API takes is still recorded."""
    order = write_json(
        tmp_path / "order.json",
        {"OrderId": 9, "OrderNo": "1009", "ClientOrderRef": "W-9", "Source": "web"},
    )
    code, _, err = run(
        tmp_path, "emit", "OrderConfirmedEvent", str(order), "--idempotency-key", key
    )
    assert code == 1
    assert err.strip() == f"error: the Idempotency-Key {said}"
    code, out, _ = run(
        tmp_path, "emit", "OrderConfirmedEvent", str(order), "--idempotency-key", "k" * 200
    )
    assert code == 0, out
    assert "recorded OrderConfirmedEvent" in out


def test_preview_reads_a_feed_from_standard_input_as_ingest_does(tmp_path: Path) -> None:
    """`preview KIND - --format F` previews the feed piped in (it said "cannot read feed -: No
    such file or directory"), the same as the file would; --base - is refused in one line."""
    feed = write_json(tmp_path / "stock.json", [stock(2)])
    database = ["--database-url", f"sqlite:///{tmp_path / 'db.sqlite'}"]
    result = CliRunner().invoke(
        main,
        [*database, "preview", "sku_onhand", "-", "--format", "json", "--json"],
        input=feed.read_bytes(),
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.stderr
    code, out, _ = run(tmp_path, "preview", "sku_onhand", str(feed), "--json")
    assert code == 0
    assert json.loads(result.stdout)["counts"] == json.loads(out)["counts"]
    assert json.loads(out)["counts"]["inserted"] == 1
    code, _, err = run(tmp_path, "preview", "sku_onhand", str(feed), "--base", "-")
    assert code == 1
    assert err.strip() == (
        "error: --base reads a file (its format from its name), not standard input"
    )


def test_preview_against_a_base_feed_needs_no_store_and_writes_nothing(tmp_path: Path) -> None:
    """`preview KIND v2 --base v1` says what v2 would fire after v1, on an empty store, and
    leaves it empty; --base with --after is refused in one line."""
    first = write_json(tmp_path / "v1.json", [stock(7)])
    second = write_json(tmp_path / "v2.json", [stock(2)])
    code, out, _ = run(
        tmp_path, "preview", "sku_onhand", str(second), "--base", str(first), "--json"
    )
    assert code == 0
    doc = json.loads(out)
    assert (doc["counts"]["updated"], doc["counts"]["inserted"]) == (1, 0)
    fired = {n["type"]: n for n in doc["notifications"]}
    assert fired["SkuOnHandBreakPointNotification"]["payload"]["OnHandValue"] == 2
    alone = json.loads(run(tmp_path, "preview", "sku_onhand", str(second), "--json")[1])
    assert alone["counts"]["inserted"] == 1  # the store still holds nothing
    code, _, err = run(
        tmp_path, "preview", "sku_onhand", "--after", str(second), "--base", str(first)
    )
    assert code == 1
    assert err.count("\n") == 1


def test_preview_against_a_base_feed_names_the_base_records_it_rejected(tmp_path: Path) -> None:
    """A base record that is rejected is previewed as absent, and the notices say which, by
    line and reason (they were dropped unsaid: an unreadable base looked like an empty one)."""
    base = tmp_path / "v1.ndjson"
    base.write_bytes(json.dumps(stock(7)).encode() + b"\n\xff\n")
    second = write_json(tmp_path / "v2.json", [stock(2)])
    code, out, _ = run(
        tmp_path, "preview", "sku_onhand", str(second), "--base", str(base), "--json"
    )
    assert code == 0
    doc = json.loads(out)
    assert doc["counts"]["updated"] == 1
    assert doc["notices"][:1] == ["the base feed had 1 rejected record(s), previewed as if absent"]
    assert doc["notices"][1].startswith("base line 2: ")
