"""Rule test files: a name the catalogs do not know is a located error, never a vacuous pass."""

from __future__ import annotations

from pathlib import Path

import pytest

from deltahook.config import Settings
from deltahook.errors import RuleError
from deltahook.rule_tests import run_file

CASE = """\
defaults:
  sku_onhand: {{WarehouseCode: STO, WarehouseId: 3, LocationCode: A-12, LocationId: 7}}
cases:
  - name: stock drops below the minimum
    only: [{only}]
    given: {{sku_onhand: [{{PartNo: P1, OnhandValue: 7, MinimumValue: 3}}]}}
    feed: {{{kind}: [{{PartNo: P1, {field}: 2, MinimumValue: 3}}]}}
    expect:
      - type: {type}
        payload: {{PartNo: P1, {prop}: 2}}
"""
GOOD = {
    "only": "SkuOnHandBreakPointNotification",
    "kind": "sku_onhand",
    "field": "OnhandValue",
    "type": "SkuOnHandBreakPointNotification",
    "prop": "OnHandValue",
}


def problems(tmp_path: Path, **names: str) -> list[str]:
    path = tmp_path / "t.yaml"
    path.write_text(CASE.format(**(GOOD | names)))
    with pytest.raises(RuleError) as caught:
        run_file(Settings(), path)
    return [str(p).replace(str(tmp_path) + "/", "") for p in caught.value.problems]


def test_the_well_named_case_passes(tmp_path: Path) -> None:
    """The case the other tests misspell runs and passes as written."""
    path = tmp_path / "t.yaml"
    path.write_text(CASE.format(**GOOD))
    assert [r.failures for r in run_file(Settings(), path)] == [[]]


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        # a misspelt type in only: would compare nothing and pass
        (
            {"only": "SkuOnHandBreakpointNotification"},
            "t.yaml:5:12: unknown event type 'SkuOnHandBreakpointNotification'; "
            "did you mean SkuOnHandBreakPointNotification",
        ),
        # a misspelt kind in a feed
        (
            {"kind": "sku_onhnd"},
            "t.yaml:7:12: unknown entity kind 'sku_onhnd' (did you mean 'sku_onhand'?)",
        ),
        # a field the kind's schema does not have
        (
            {"field": "OnHandValue"},
            "t.yaml:7:38: sku_onhand has no field 'OnHandValue' (did you mean 'OnhandValue'?)",
        ),
        # a misspelt type in expect
        (
            {"type": "SkuOnHandBreakPointNotifcation"},
            "t.yaml:9:15: unknown event type 'SkuOnHandBreakPointNotifcation'; "
            "did you mean SkuOnHandBreakPointNotification",
        ),
        # a payload property the type's schema does not have
        (
            {"prop": "OnhandValue"},
            "t.yaml:10:31: SkuOnHandBreakPointNotification has no property 'OnhandValue' "
            "(did you mean 'OnHandValue'?)",
        ),
    ],
    ids=["only", "kind", "field", "type", "property"],
)
def test_an_unknown_name_in_a_rule_test_is_a_located_error(
    tmp_path: Path, names: dict[str, str], expected: str
) -> None:
    """Types, kinds, fields and payload properties are checked against the catalogs."""
    found = problems(tmp_path, **names)
    assert any(p.startswith(expected) for p in found), found


def test_an_unknown_table_in_an_expected_payload_is_a_located_error(tmp_path: Path) -> None:
    """EntityChanged names a table: one outside the type's list is refused, with a suggestion."""
    path = tmp_path / "t.yaml"
    path.write_text(
        "cases:\n"
        "  - name: a new SKU\n"
        "    feed: {sku: [{PartNo: P1}]}\n"
        "    expect:\n"
        "      - type: SkuChangedNotification\n"
        "        payload: {EntityChanged: tClientProductSKU}\n"
    )
    with pytest.raises(RuleError) as caught:
        run_file(Settings(), path)
    (problem,) = caught.value.problems
    assert (
        str(problem)
        .replace(str(tmp_path) + "/", "")
        .startswith(
            "t.yaml:6:34: SkuChangedNotification.EntityChanged: 'tClientProductSKU' is not one of"
        )
    )
    assert "did you mean 'tClientProductSku'?" in str(problem)


def test_a_duplicate_key_in_a_test_record_is_refused(tmp_path: Path) -> None:
    """A record that gives a field twice is an error, not a silent last-one-wins."""
    path = tmp_path / "t.yaml"
    path.write_text(
        CASE.format(**GOOD).replace(
            "{PartNo: P1, OnhandValue: 7,", "{PartNo: P1, PartNo: P2, OnhandValue: 7,"
        )
    )
    with pytest.raises(RuleError) as caught:
        run_file(Settings(), path)
    assert [str(p).replace(str(tmp_path) + "/", "") for p in caught.value.problems] == [
        "t.yaml:6:39: duplicate key 'PartNo' (first at line 6, column 27)"
    ]


def test_a_misspelt_key_of_an_expected_notification_is_a_located_error(tmp_path: Path) -> None:
    """`paylaod:` would leave the payload unchecked, so an unknown key is refused."""
    path = tmp_path / "t.yaml"
    path.write_text(CASE.format(**GOOD).replace("        payload:", "        paylaod:"))
    with pytest.raises(RuleError) as caught:
        run_file(Settings(), path)
    assert [str(p).replace(str(tmp_path) + "/", "") for p in caught.value.problems] == [
        "t.yaml:10:9: an expected notification: unknown key 'paylaod' (did you mean 'payload'?)"
    ]


def test_an_expected_payload_that_is_no_mapping_is_a_located_error(tmp_path: Path) -> None:
    """payload: 5 is refused where it is written (it was an AttributeError traceback)."""
    path = tmp_path / "t.yaml"
    path.write_text(
        "cases:\n"
        "  - name: a new SKU\n"
        "    feed: {sku: [{PartNo: P1}]}\n"
        "    expect:\n"
        "      - {type: SkuChangedNotification, payload: 5}\n"
    )
    with pytest.raises(RuleError) as caught:
        run_file(Settings(), path)
    assert [str(p).replace(str(tmp_path) + "/", "") for p in caught.value.problems] == [
        "t.yaml:5:7: expect must list {type: ..., payload: {...}} items"
    ]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        # past 64 bits (it was a TypeError traceback, then a failure naming no field)
        ("99999999999999999999", "OnhandValue: integer does not fit in 64 bits"),
        # written as null by orjson, so the failure said "None is not of type 'number'"
        (".nan", "OnhandValue: not a finite number"),
        ("-.inf", "OnhandValue: not a finite number"),
    ],
)
def test_a_record_no_feed_line_can_carry_fails_its_case_naming_the_field(
    tmp_path: Path, value: str, reason: str
) -> None:
    """A test record is written as a feed line as it is, so the case fails with the reason a
    feed carrying the value would be rejected for, naming the field."""
    path = tmp_path / "t.yaml"
    feed = CASE.format(**GOOD).replace(
        "{PartNo: P1, OnhandValue: 2,", f"{{PartNo: P1, OnhandValue: {value},"
    )
    path.write_text(feed)
    (result,) = run_file(Settings(), path)
    assert result.failures[0].startswith(f"sku_onhand record 1 rejected: {reason}")


def test_a_given_record_that_is_rejected_fails_its_case_saying_given(tmp_path: Path) -> None:
    """The failure of a ``given`` record reads "given: ...", as a step's reads "step 2: ..."."""
    path = tmp_path / "t.yaml"
    path.write_text(CASE.format(**GOOD).replace("OnhandValue: 7,", "OnhandValue: seven,"))
    (result,) = run_file(Settings(), path)
    assert result.failures[0] == (
        "given: sku_onhand record 1 rejected: OnhandValue: 'seven' is not of type 'number'"
    )


@pytest.mark.parametrize(
    "defaults",
    [
        "{sku_onhand: 5}",  # a kind's defaults that are no mapping (a TypeError traceback)
        "[{WarehouseCode: STO}]",  # a list: it was dropped without a word
    ],
)
def test_defaults_that_are_no_mapping_of_mappings_are_a_located_error(
    tmp_path: Path, defaults: str
) -> None:
    """defaults: is refused where it is written, not when a record is merged with it."""
    path = tmp_path / "t.yaml"
    cases = CASE.format(**GOOD).split("cases:", 1)[1]
    path.write_text(f"defaults: {defaults}\ncases:{cases}")
    with pytest.raises(RuleError) as caught:
        run_file(Settings(), path)
    assert [str(p).replace(str(tmp_path) + "/", "") for p in caught.value.problems] == [
        "t.yaml:1:11: defaults must be given as {kind: {field: value, ...}}"
    ]
