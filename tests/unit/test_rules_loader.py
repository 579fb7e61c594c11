"""Loading rule files: the shipped set loads, and every mistake is named with file:line:col."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from deltahook.catalog.entities import Catalog
from deltahook.catalog.events import EventCatalog
from deltahook.changes.model import Op
from deltahook.errors import ConfigError, RuleError
from deltahook.rules.loader import load_rules
from deltahook.rules.model import RuleSet
from tests.conftest import REPO

CONSTANTS = {"ClientId": 1042, "ApplicationId": 1}


def load(path: Path, catalog: Catalog, events: EventCatalog) -> RuleSet:
    return load_rules(path, catalog=catalog, events=events, constants=CONSTANTS)


def problems_of(tmp_path: Path, text: str, catalog: Catalog, events: EventCatalog) -> list[str]:
    (tmp_path / "rules.yaml").write_text(textwrap.dedent(text))
    with pytest.raises(RuleError) as caught:
        load(tmp_path, catalog, events)
    return [str(p).replace(str(tmp_path) + "/", "") for p in caught.value.problems]


SKU_RULE = """\
format_version: 1
rules:
  - notification: SkuChangedNotification
    payload: {{PartNo: row.PartNo, EntityChanged: setting.table}}
    settings:
      - id: s
        table: tClientProductSkuCulture
{body}
"""


def test_the_shipped_rules_load_and_cover_every_notification_type(
    catalog: Catalog, events: EventCatalog
) -> None:
    """The shipped rule set loads and has settings for each shipped notification type."""
    rules = load(REPO / "rules", catalog, events)
    wanted = {e.name for e in events if e.family == "notification"}
    assert rules.types() == wanted


def test_the_shipped_sku_rule_covers_every_catalog_table_of_its_entity_changed(
    catalog: Catalog, events: EventCatalog
) -> None:
    """SkuChangedNotification has a setting for each EntityChanged table the catalog holds."""
    rules = load(REPO / "rules", catalog, events)
    enum = events.require("SkuChangedNotification").schema["properties"]["EntityChanged"]["enum"]
    tables = {table for kind in catalog for table, _ in kind.tables()}
    covered = {s.table for s in rules if s.type == "SkuChangedNotification"}
    assert covered == set(enum) & tables
    assert {"tClientProductSkuPriceList", "tClientProductSkuOnHand"} <= covered


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        # a misspelt operation, with a suggestion
        ("        on: [insert, upsert]", "rules.yaml:8:22: on: unknown operation 'upsert'"),
        # a watched field the table does not have
        ("        on: [update]\n        watch: [Nmae]", "rules.yaml:9:17: watch 'Nmae' matches"),
        # update without watch
        ("        on: [update]", "rules.yaml:8:13: on update needs watch"),
        # no operation at all: the setting could never fire
        ("        on: []", "rules.yaml:8:13: on needs at least one of insert, update, delete"),
        # updates of no field: never fired either
        (
            "        on: [update]\n        watch: []",
            "rules.yaml:9:16: watch needs at least one field (['*'] for every field)",
        ),
        # a filter on an unknown field
        (
            "        on: [insert]\n        filter: {new.Colour: red}",
            "rules.yaml:9:18: tClientProductSkuCulture has no field 'Colour'",
        ),
        # an unknown operator
        (
            "        on: [insert]\n        filter: {new.Name: {like: x}}",
            "rules.yaml:9:29: the operators of new.Name: unknown key 'like'",
        ),
        # an operand that can never match the field's type
        (
            "        on: [insert]\n        filter: {new.Name: {lt: 5}}",
            "rules.yaml:9:33: new.Name holds string; 5 can never match it",
        ),
        # a bad regular expression
        (
            "        on: [insert]\n        filter: {new.Name: {matches: '('}}",
            "rules.yaml:9:38: new.Name matches: invalid regular expression",
        ),
        # a payload property the type does not have
        (
            "        on: [insert]\n        payload: {Colour: row.Name}",
            "rules.yaml:9:27: SkuChangedNotification has no property 'Colour'",
        ),
        # a payload source the table does not have
        (
            "        on: [insert]\n        payload: {PartNo: row.PartNumber}",
            "rules.yaml:9:27: payload PartNo: tClientProductSkuCulture has no field 'PartNumber'",
        ),
        # an unknown key in a setting
        (
            "        on: [insert]\n        wach: [Name]",
            "rules.yaml:9:9: a setting: unknown key 'wach'",
        ),
    ],
)
def test_each_mistake_is_reported_with_file_line_and_column(
    tmp_path: Path, catalog: Catalog, events: EventCatalog, body: str, expected: str
) -> None:
    """Each kind of mistake names the file, line and column where it was written."""
    problems = problems_of(tmp_path, SKU_RULE.format(body=body), catalog, events)
    assert any(p.startswith(expected) for p in problems), problems


def test_every_problem_of_a_broken_file_is_reported_at_once(
    tmp_path: Path, catalog: Catalog, events: EventCatalog
) -> None:
    """A file with seven mistakes yields seven located problems, in file order."""
    text = """\
    format_version: 1
    rules:
      - notification: SkuChangedNotifcation
        settings: [{id: a, table: tClientProductSku, on: [insert]}]
      - notification: SkuChangedNotification
        payload: {PartNo: row.PartNo, EntityChanged: setting.table}
        settings:
          - {id: b, table: tClientProductSkuCultur, on: [insert]}
          - {id: c, table: tClientCustomer, on: [insert]}
          - {id: d, table: tClientProductSku, on: [update], watch: [Colour]}
      - notification: SkuPriceChangedNotification
        settings:
          - id: p
            table: tClientProductSkuPriceList
            on: [update]
            watch: [PriceSale]
            payload: {PartNo: row.PartNo, PriceSaleValue: new.CurrencyCode}
      - notification: JobCompletedEvent
        settings: []
    """
    problems = problems_of(tmp_path, text, catalog, events)
    assert [p.split(": ", 1)[0] for p in problems] == [
        "rules.yaml:3:19",
        "rules.yaml:8:24",
        "rules.yaml:9:24",
        "rules.yaml:10:65",
        "rules.yaml:13:13",
        "rules.yaml:17:55",
        "rules.yaml:18:19",
    ]
    assert "did you mean SkuChangedNotification" in problems[0]
    assert "belongs to kinds company, customer" in problems[2]
    assert "does not map required property PricelistId" in problems[4]
    assert "needs number but new.CurrencyCode holds string" in problems[5]
    assert "is an event" in problems[6]


def test_a_yaml_syntax_error_is_located_and_other_files_are_still_checked(
    tmp_path: Path, catalog: Catalog, events: EventCatalog
) -> None:
    """Malformed YAML in one file is located; a mistake in another file is reported too."""
    (tmp_path / "a.yaml").write_text("format_version: 1\nrules:\n  - notification: [x\n")
    (tmp_path / "b.yaml").write_text("format_version: 2\nrules: []\n")
    with pytest.raises(RuleError) as caught:
        load(tmp_path, catalog, events)
    located = [f"{Path(p.path).name}:{p.line}" for p in caught.value.problems]
    assert located == ["a.yaml:4", "b.yaml:1"]
    assert "YAML syntax" in caught.value.problems[0].message


def test_a_payload_that_cannot_fill_the_types_required_fields_is_refused(
    tmp_path: Path, catalog: Catalog, events: EventCatalog
) -> None:
    """A breakpoint payload without MinimumValue is an error at load time, not at run time."""
    text = """\
    format_version: 1
    rules:
      - notification: SkuOnHandBreakPointNotification
        settings:
          - id: low
            table: tClientProductSkuOnHand
            breakpoint: {field: OnhandValue, threshold: MinimumValue}
            payload:
              PartNo: row.PartNo
              WarehouseId: row.WarehouseId
              LocationId: row.LocationId
              OnHandValue: new.OnhandValue
    """
    problems = problems_of(tmp_path, text, catalog, events)
    assert problems == [
        "rules.yaml:5:13: payload of SkuOnHandBreakPointNotification for "
        "tClientProductSkuOnHand does not map required property MinimumValue"
    ]


def test_a_table_the_notifications_enum_does_not_list_is_refused(
    tmp_path: Path, catalog: Catalog, events: EventCatalog
) -> None:
    """EntityChanged: setting.table is checked against the type's list of tables."""
    text = SKU_RULE.replace("tClientProductSkuCulture", "tSupplierProductSku").format(
        body="        on: [insert]"
    )
    problems = problems_of(tmp_path, text, catalog, events)
    assert len(problems) == 1
    assert "payload EntityChanged: 'tSupplierProductSku' is not accepted" in problems[0]


def test_the_same_setting_id_twice_is_refused_with_both_places(
    tmp_path: Path, catalog: Catalog, events: EventCatalog
) -> None:
    """Setting ids are unique per notification type across all files."""
    one = SKU_RULE.format(body="        on: [insert]")
    (tmp_path / "a.yaml").write_text(one)
    (tmp_path / "b.yaml").write_text(one)
    with pytest.raises(RuleError) as caught:
        load(tmp_path, catalog, events)
    (problem,) = caught.value.problems
    assert problem.path.endswith("b.yaml")
    assert problem.message.endswith(f"already defined at {tmp_path / 'a.yaml'}:6")


def test_a_missing_rules_folder_is_an_error(catalog: Catalog, events: EventCatalog) -> None:
    """A rules folder that does not exist is not taken for an empty rule set."""
    with pytest.raises(RuleError, match="no such rules folder"):
        load(Path("/nonexistent/rules"), catalog, events)


def test_settings_compile_their_operations_and_watched_globs(
    tmp_path: Path, catalog: Catalog, events: EventCatalog
) -> None:
    """Globs in watch expand against the table's fields; the operations are kept."""
    (tmp_path / "r.yaml").write_text(
        SKU_RULE.format(body="        on: [update, delete]\n        watch: ['*Name', Desc*]")
    )
    (setting,) = load(tmp_path, catalog, events)
    assert setting.ops == frozenset({Op.UPDATE, Op.DELETE})
    assert setting.watch_known == frozenset({"Name", "ErpName", "Description"})
    assert setting.uid == "SkuChangedNotification/s"


def test_the_rule_set_does_not_depend_on_how_settings_are_spread_over_files(
    tmp_path: Path, catalog: Catalog, events: EventCatalog
) -> None:
    """The shipped files renamed into the reverse order give the same settings and routes."""
    reordered = tmp_path / "rules"
    reordered.mkdir()
    files = sorted((REPO / "rules").glob("*.yaml"))
    for number, path in enumerate(reversed(files)):
        shutil.copy(path, reordered / f"{number:02d}-{path.name}")
    one = load(REPO / "rules", catalog, events)
    two = load(reordered, catalog, events)
    assert [s.uid for s in one] == [s.uid for s in two]
    assert {k: [s.uid for s in v] for k, v in one.routes.items()} == {
        k: [s.uid for s in v] for k, v in two.routes.items()
    }


@pytest.mark.parametrize(
    ("constants", "problem"),
    [
        ({"ClientId": "x", "ApplicationId": 1}, "'x' is not of type 'integer'"),
        ({"ClientId": 1, "ApplicationId": [1]}, "[1] is not of type 'integer'"),
    ],
)
def test_a_constant_no_payload_accepts_is_refused_when_the_rules_load(
    catalog: Catalog, events: EventCatalog, constants: dict[str, object], problem: str
) -> None:
    """ClientId and ApplicationId fill every payload that has them: one the schemas refuse
    dropped every notification at run time, then failed the job's JobCompletedEvent with the
    job left running. It is one config problem before anything is read."""
    with pytest.raises(ConfigError) as caught:
        load_rules(REPO / "rules", catalog=catalog, events=events, constants=constants)
    (name,) = (n for n, v in constants.items() if v != 1)
    assert str(caught.value).startswith(f"constants: {name}: {problem}")
