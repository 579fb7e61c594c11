"""Hypothesis strategies: a small entity kind with a keyed collection, and bodies of it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from deltahook.catalog.entities import Collection, EntityKind

ROOT_TABLE = "tThing"
ROW_TABLE = "tThingRow"

THING = EntityKind(
    name="thing",
    path=Path("thing.json"),
    schema={"type": "object", "properties": {}},
    table=ROOT_TABLE,
    key=("Code",),
    fields=frozenset(
        {"Code", "Name", "Qty", "Price", "IsActive", "Note", "Attrs", "Tags", "Parts"}
    ),
    collections={
        "Rows": Collection(
            name="Rows",
            table=ROW_TABLE,
            key=("RowCode",),
            fields=frozenset({"RowCode", "Value", "Label", "IsOn", "Codes"}),
        )
    },
)

# Numbers as a feed writes them: integers, integral floats (5.0) and prices in cents.
# (DeepDiff, the reference, compares numbers to 12 significant digits when told to ignore
# numeric types; deltahook is exact, so generated values stay within that precision.)
numbers = st.one_of(
    st.integers(-1000, 1000),
    st.integers(-1000, 1000).map(float),
    st.integers(-100_000, 100_000).map(lambda cents: cents / 100),
)
texts = st.text(alphabet="abcåäö XY-", max_size=6)
maybe_null = st.none()
# Lists that are not keyed collections: multisets, so small alphabets make repeats likely.
# (No booleans among numbers: DeepDiff's numeric mode takes true for 1 there, deltahook never.)
plain_lists = st.lists(st.sampled_from(["a", "b", "å"]) | st.integers(1, 3), max_size=4)
unkeyed_objects = st.lists(
    st.fixed_dictionaries({}, optional={"x": st.integers(1, 2), "y": plain_lists}), max_size=3
)


def _optional(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """A dict in which each field may be absent, and nullable fields may be null."""
    return st.fixed_dictionaries({}, optional=fields)


rows = _optional(
    Value=numbers | maybe_null,
    Label=texts,
    IsOn=st.booleans(),
    Codes=plain_lists,
)


def row_list() -> st.SearchStrategy[Any]:
    return st.lists(
        st.tuples(st.sampled_from("ABCDE"), rows).map(lambda t: {"RowCode": t[0], **t[1]}),
        unique_by=lambda r: r["RowCode"],
        max_size=4,
    )


@st.composite
def things(draw: st.DrawFn, code: str | None = None) -> dict[str, Any]:
    """One record of the ``thing`` kind, its fields in random order."""
    body: dict[str, Any] = {"Code": code or draw(st.sampled_from(["T1", "T2", "T3"]))}
    body |= draw(
        _optional(
            Name=texts | maybe_null,
            Qty=numbers,
            Price=numbers | maybe_null,
            IsActive=st.booleans(),
            Note=texts,
            Attrs=st.dictionaries(st.sampled_from(["color", "size"]), texts | numbers, max_size=2),
            Tags=plain_lists,
            Parts=unkeyed_objects,
            Rows=row_list(),
        )
    )
    order = draw(st.permutations(list(body)))
    return {name: body[name] for name in order}
