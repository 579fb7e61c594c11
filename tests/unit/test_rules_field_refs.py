"""Filters that compare two fields (``{gt: {ref: new.MinimumValue}}``) and read ``parent.``."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from deltahook.catalog.entities import load_catalog
from deltahook.changes.model import MISSING, EntityChange, Op, RowChange
from deltahook.rules.conditions import Compiler, Cond, trace
from deltahook.rules.context import Ctx
from deltahook.rules.source import Reader
from deltahook.rules.tables import TableInfo, table_index
from tests.conftest import REPO

TABLES = table_index(load_catalog(REPO / "schemas" / "entities"))
STOCK = TABLES["tClientProductSkuOnHand"][0]
SKU = TABLES["tClientProductSku"][0]


def compiled(text: str, table: TableInfo = STOCK) -> tuple[Cond | None, list[str]]:
    reader = Reader("rules.yaml")
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    cond = Compiler(reader, table, {"ClientId": 1}, {"table": table.table}).compile(node)
    return cond, [str(p) for p in reader.problems]


def compile_filter(text: str, table: TableInfo = STOCK) -> Cond:
    cond, problems = compiled(text, table)
    assert not problems, problems
    assert cond is not None
    return cond


def ctx(
    old: dict[str, Any] | None,
    new: dict[str, Any] | None,
    parent: dict[str, Any] | None = None,
) -> Ctx:
    key = {"PartNo": "A", "WarehouseCode": "W", "LocationCode": "L"}
    op = Op.INSERT if old is None else Op.UPDATE
    row = RowChange(table=STOCK.table, key=key, op=op, fields=(), old=old, new=new)
    change = EntityChange(
        kind="sku_onhand", key="A|W|L", parent_key="A", op=op, old=old, new=new, rows=(row,)
    )
    found = Ctx.of(change, row)
    found.parent = parent
    return found


AT_MOST_MINIMUM = "new.OnhandValue: {le: {ref: new.MinimumValue}}"
SAME_AS_OLD = "new.OnhandValue: {eq: {ref: old.OnhandValue}}"
NOT_OLD = "new.OnhandValue: {ne: {ref: old.OnhandValue}}"
SAME_CODES = "new.WarehouseCode: {eq: {ref: new.LocationCode}}"
LITERAL = "new.WarehouseCode: {eq: new.LocationCode}"


@pytest.mark.parametrize(
    ("text", "old", "new", "holds"),
    [
        (AT_MOST_MINIMUM, {}, {"OnhandValue": 2, "MinimumValue": 3}, True),
        (AT_MOST_MINIMUM, {}, {"OnhandValue": 4, "MinimumValue": 3}, False),
        (AT_MOST_MINIMUM, {}, {"OnhandValue": 3.0, "MinimumValue": 3}, True),  # 3.0 is 3
        (AT_MOST_MINIMUM, {}, {"OnhandValue": 2}, False),  # an absent right side
        (AT_MOST_MINIMUM, {}, {"OnhandValue": 2, "MinimumValue": None}, False),  # null: no order
        (
            "new.OnhandValue: {gt: {ref: old.OnhandValue}}",
            {"OnhandValue": 1},
            {"OnhandValue": 2},
            True,
        ),
        (SAME_AS_OLD, {"OnhandValue": 1}, {"OnhandValue": 1.0}, True),  # 1 equals 1.0
        (NOT_OLD, {"OnhandValue": 1}, {"OnhandValue": 2}, True),
        (SAME_AS_OLD, {}, {}, False),  # absent equals nothing
        (NOT_OLD, {}, {}, True),
        (SAME_CODES, {}, {"WarehouseCode": "A", "LocationCode": "A"}, True),
        (LITERAL, {}, {"WarehouseCode": "A", "LocationCode": "A"}, False),  # a bare string: text
        (LITERAL, {}, {"WarehouseCode": "new.LocationCode"}, True),
    ],
)
def test_a_reference_on_the_right_compares_two_values_of_the_row(
    text: str, old: dict[str, Any], new: dict[str, Any], holds: bool
) -> None:
    """{ref: scope.Field} reads that value; absent and null compare to nothing, as on the left."""
    assert compile_filter(text).test(ctx(old, new)) is holds


def test_a_filter_reads_the_parent_entity() -> None:
    """parent.X reads the stored parent (the SKU of a stock row); with no parent it is absent."""
    cond = compile_filter(
        "parent.StatusId: 1\nnew.OnhandValue: {lt: {ref: parent.RecommendedQuantity}}"
    )
    new = {"OnhandValue": 2}
    assert cond.test(ctx({}, new, {"StatusId": 1, "RecommendedQuantity": 5}))
    assert not cond.test(ctx({}, new, {"StatusId": 5, "RecommendedQuantity": 5}))
    assert not cond.test(ctx({}, new, None))


def test_the_trace_shows_both_sides_of_a_comparison() -> None:
    """A comparison of two fields that said no shows the value of each."""
    cond = compile_filter("new.OnhandValue: {le: {ref: new.MinimumValue}}")
    assert trace(cond, ctx({}, {"OnhandValue": 4})) == [
        {
            "condition": "new.OnhandValue le new.MinimumValue",
            "seen": {"new.OnhandValue": 4, "new.MinimumValue": "(absent)"},
        }
    ]


@pytest.mark.parametrize(
    ("text", "table", "expected"),
    [
        # a misspelt field on the right, with a suggestion
        (
            "new.OnhandValue: {gt: {ref: new.MinimumValu}}",
            STOCK,
            "rules.yaml:1:29: tClientProductSkuOnHand has no field 'MinimumValu' "
            "(did you mean 'MinimumValue'?)",
        ),
        # a misspelt field of the parent, on the left
        (
            "parent.StatusID: 1",
            STOCK,
            "rules.yaml:1:1: parent 'sku' has no field 'StatusID' (did you mean 'StatusId'?)",
        ),
        # a kind without a parent
        ("parent.PartNo: A", SKU, "rules.yaml:1:1: entity kind 'sku' has no parent"),
        # not a reference at all
        (
            "new.OnhandValue: {gt: {ref: MinimumValue}}",
            STOCK,
            "rules.yaml:1:29: ref 'MinimumValue' is not a reference like new.Field or parent.Field",
        ),
        # a number compared with a text: never true
        (
            "new.OnhandValue: {lt: {ref: new.LocationCode}}",
            STOCK,
            "rules.yaml:1:29: new.OnhandValue holds number; new.LocationCode holds string: "
            "they can never be compared",
        ),
        # a reference where a list is needed
        (
            "new.OnhandValue: {in: {ref: new.MinimumValue}}",
            STOCK,
            "rules.yaml:1:23: new.OnhandValue in must be a list",
        ),
        # ref takes nothing else
        (
            "new.OnhandValue: {gt: {ref: new.MinimumValue, value: 3}}",
            STOCK,
            "rules.yaml:1:47: the operand of new.OnhandValue gt: unknown key 'value'",
        ),
    ],
)
def test_a_bad_reference_is_a_located_load_error(
    text: str, table: TableInfo, expected: str
) -> None:
    """Unknown fields, scopes and types on either side are found at load, with a line."""
    cond, problems = compiled(text, table)
    assert cond is None
    assert any(p.startswith(expected) for p in problems), problems


NUMBERS = st.decimals(min_value=-100, max_value=100, places=2)


@given(
    op=st.sampled_from(["eq", "ne", "lt", "le", "gt", "ge"]),
    left=st.none() | st.just(MISSING) | NUMBERS,
    right=NUMBERS,
)
def test_a_reference_decides_like_the_literal_it_holds(op: str, left: Any, right: Any) -> None:
    """``{op: {ref: new.MinimumValue}}`` holds exactly when ``{op: <its value>}`` would."""
    by_ref = compile_filter(f"new.OnhandValue: {{{op}: {{ref: new.MinimumValue}}}}")
    literal = compile_filter(f"new.OnhandValue: {{{op}: {format(right, 'f')}}}")
    new: dict[str, Any] = {"MinimumValue": float(right)}
    if left is not MISSING:
        new["OnhandValue"] = None if left is None else float(left)
    assert by_ref.test(ctx({}, new)) is literal.test(ctx({}, new))
