"""Filters: each operator's meaning, absent values, combinations, and the trace of a no."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from deltahook.catalog.entities import load_catalog
from deltahook.changes.model import EntityChange, Op, RowChange
from deltahook.rules.conditions import Compiler, Cond, trace
from deltahook.rules.context import Ctx
from deltahook.rules.operands import same
from deltahook.rules.source import Reader
from deltahook.rules.tables import table_index
from tests.conftest import REPO

PRICE_TABLE = table_index(load_catalog(REPO / "schemas" / "entities"))[
    "tClientProductSkuPriceList"
][0]


def compile_filter(text: str) -> Cond:
    reader = Reader("filter.yaml")
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    cond = Compiler(reader, PRICE_TABLE, {"ClientId": 1}, {"table": PRICE_TABLE.table}).compile(
        node
    )
    assert not reader.problems, reader.problems
    assert cond is not None
    return cond


def ctx(old: dict[str, Any] | None, new: dict[str, Any] | None) -> Ctx:
    key = {"PartNo": "A", "PriceListCode": "SE", "QuantityBreak": 1}
    op = Op.INSERT if old is None else Op.DELETE if new is None else Op.UPDATE
    row = RowChange(table=PRICE_TABLE.table, key=key, op=op, fields=(), old=old, new=new)
    change = EntityChange(
        kind="sku_price", key="A|SE|1", parent_key="A", op=op, old=old, new=new, rows=(row,)
    )
    return Ctx.of(change, row)


@pytest.mark.parametrize(
    ("text", "new", "holds"),
    [
        ("new.PriceSale: {eq: 5}", {"PriceSale": 5.0}, True),  # 5 equals 5.0
        ("new.IsActive: true", {"IsActive": True}, True),  # a bare value means eq
        ("new.PriceSale: {ne: null}", {"PriceSale": None}, False),  # null is a value
        ("new.PriceSale: {ne: null}", {}, True),  # absent is not null
        ("new.PriceSale: {exists: true}", {"PriceSale": None}, True),  # present, even if null
        ("new.PriceSale: {exists: false}", {}, True),
        ("new.CurrencyCode: {in: [SEK, NOK]}", {"CurrencyCode": "NOK"}, True),
        ("new.CurrencyCode: {in: [SEK, NOK]}", {}, False),  # absent is in nothing
        ("new.CurrencyCode: {not_in: [SEK]}", {"CurrencyCode": "EUR"}, True),
        ("new.PriceSale: {gt: 100}", {"PriceSale": 100.5}, True),
        ("new.PriceSale: {le: 100}", {"PriceSale": None}, False),  # null compares to nothing
        ("new.PriceListCode: {ge: M}", {"PriceListCode": "SE"}, True),  # strings compare
        ("new.PriceListCode: {matches: '^S[EK]$'}", {"PriceListCode": "SE"}, True),
        ("new.PriceSale: {gt: 0, lt: 10}", {"PriceSale": 12}, False),  # both must hold
        ("any: [{new.PriceSale: {lt: 0}}, {new.IsActive: false}]", {"IsActive": False}, True),
        ("not: {new.IsActive: false}", {"IsActive": True}, True),
        ("all: [{new.IsActive: true}, {row.PartNo: A}]", {"IsActive": True, "PartNo": "A"}, True),
    ],
)
def test_operators(text: str, new: dict[str, Any], holds: bool) -> None:
    """Each operator holds or not exactly as documented."""
    assert compile_filter(text).test(ctx({}, new)) is holds


def test_true_is_not_one() -> None:
    """JSON equality: numbers by value, booleans only equal booleans."""
    assert same(5, 5.0)
    assert not same(True, 1)
    assert not same(0, False)


def test_an_operand_of_the_wrong_type_is_refused_at_load() -> None:
    """IsActive: 1 can never match a boolean field, so it is a load-time error."""
    reader = Reader("filter.yaml")
    node = yaml.compose("new.IsActive: 1", Loader=yaml.SafeLoader)
    assert Compiler(reader, PRICE_TABLE, {}, {}).compile(node) is None
    assert [str(p) for p in reader.problems] == [
        "filter.yaml:1:15: new.IsActive holds boolean; 1 can never match it"
    ]


def test_old_values_are_seen_through_old() -> None:
    """old.X reads the row before the change; on an insert it is absent."""
    cond = compile_filter("old.PriceSale: {exists: true}")
    assert cond.test(ctx({"PriceSale": 1}, {"PriceSale": 2}))
    assert not cond.test(ctx(None, {"PriceSale": 2}))


def test_row_reads_the_old_row_of_a_deleted_row() -> None:
    """row.X is the row after the change, or before it when the row was deleted."""
    cond = compile_filter("row.CurrencyCode: SEK")
    assert cond.test(ctx({"CurrencyCode": "SEK"}, None))


def test_the_trace_of_a_no_names_each_failing_condition_and_what_it_saw() -> None:
    """A filter that says no explains which conditions failed, with the values seen."""
    cond = compile_filter(
        "new.CurrencyCode: {in: [SEK]}\nnew.PriceSale: {gt: 10}\nnew.IsActive: true"
    )
    seen = trace(cond, ctx({}, {"CurrencyCode": "EUR", "PriceSale": 5, "IsActive": True}))
    assert seen == [
        {"condition": "new.CurrencyCode in ['SEK']", "seen": {"new.CurrencyCode": "EUR"}},
        {"condition": "new.PriceSale gt 10", "seen": {"new.PriceSale": 5}},
    ]
    assert trace(cond, ctx({}, {"CurrencyCode": "SEK", "PriceSale": 11, "IsActive": True})) == []


def test_the_trace_says_when_a_value_is_absent() -> None:
    """An absent field shows as absent in the trace, not as null."""
    cond = compile_filter("new.PriceSale: {gt: 10}")
    assert trace(cond, ctx({}, {})) == [
        {"condition": "new.PriceSale gt 10", "seen": {"new.PriceSale": "(absent)"}}
    ]
