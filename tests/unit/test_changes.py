"""Canonical form and the keyed diff, example by example."""

from __future__ import annotations

from typing import Any

import pytest

from deltahook.changes.canonical import NormaliseError, canonical_bytes, key_string, normalise
from deltahook.changes.diff import diff_entity
from deltahook.changes.model import MISSING, Op
from tests.strategies import ROOT_TABLE, ROW_TABLE, THING


def rows_of(old: dict[str, Any] | None, new: dict[str, Any] | None) -> list[Any]:
    a = normalise(THING, old) if old is not None else None
    b = normalise(THING, new) if new is not None else None
    return list(diff_entity(THING, key="T1", parent_key=None, old=a, new=b).rows)


def test_null_differs_from_absent() -> None:
    """A field that becomes null is a change whose old value is MISSING, not None."""
    (row,) = rows_of({"Code": "T1"}, {"Code": "T1", "Name": None})
    assert row.op is Op.UPDATE
    assert (row.fields[0].field, row.fields[0].old, row.fields[0].new) == ("Name", MISSING, None)


def test_true_differs_from_one() -> None:
    """Booleans are not numbers: true to 1 is a change (DeepDiff's numeric mode would hide it)."""
    (row,) = rows_of({"Code": "T1", "Qty": True}, {"Code": "T1", "Qty": 1})
    assert row.changed() == {"Qty"}


def test_nested_true_differs_from_one() -> None:
    """Inside nested values too, true and 1 differ."""
    (row,) = rows_of({"Code": "T1", "Attrs": {"a": True}}, {"Code": "T1", "Attrs": {"a": 1}})
    assert row.changed() == {"Attrs"}


def test_changed_row_of_a_collection_is_keyed_by_entity_and_row() -> None:
    """A row change carries the entity key and the row key, and only the changed fields."""
    old = {"Code": "T1", "Rows": [{"RowCode": "A", "Value": 1, "Label": "x"}]}
    new = {"Code": "T1", "Rows": [{"RowCode": "A", "Value": 2, "Label": "x"}]}
    (row,) = rows_of(old, new)
    assert row.table == ROW_TABLE
    assert dict(row.key) == {"Code": "T1", "RowCode": "A"}
    assert [(f.field, f.old, f.new) for f in row.fields] == [("Value", 1, 2)]


def test_new_entity_inserts_every_row() -> None:
    """A first snapshot is an insert of the root row and of each collection row."""
    rows = rows_of(None, {"Code": "T1", "Rows": [{"RowCode": "A"}, {"RowCode": "B"}]})
    assert [(r.table, r.op) for r in rows] == [
        (ROOT_TABLE, Op.INSERT),
        (ROW_TABLE, Op.INSERT),
        (ROW_TABLE, Op.INSERT),
    ]
    assert rows[0].changed() == {"Code"}  # collections are not fields of the root row


def test_removed_entity_deletes_every_row() -> None:
    """A deleted entity is a delete of every row it had."""
    rows = rows_of({"Code": "T1", "Rows": [{"RowCode": "A"}]}, None)
    assert [(r.table, r.op) for r in rows] == [(ROOT_TABLE, Op.DELETE), (ROW_TABLE, Op.DELETE)]


def test_empty_and_absent_collections_are_the_same() -> None:
    """An empty keyed list and a missing one both mean no rows."""
    assert canonical_bytes(normalise(THING, {"Code": "T1", "Rows": []})) == canonical_bytes(
        normalise(THING, {"Code": "T1"})
    )


def test_duplicate_row_keys_are_refused() -> None:
    """Two rows with one key in a keyed collection make the record invalid."""
    with pytest.raises(NormaliseError, match="duplicate row key 'A'"):
        normalise(THING, {"Code": "T1", "Rows": [{"RowCode": "A"}, {"RowCode": "A"}]})


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["P1"], "P1"),  # one field: its value
        (["P1", "WH", "A1"], "P1|WH|A1"),  # several: joined
        (["a|b", "c\\d"], "a\\|b|c\\\\d"),  # separators inside values are escaped
        ([5.0, True], "5|true"),  # numbers canonical, booleans spelled out
    ],
)
def test_key_strings(values: list[Any], expected: str) -> None:
    """Keys render as one stable string."""
    assert key_string(values) == expected


def test_reordering_a_list_of_plain_values_is_no_change() -> None:
    """A list that is not a keyed collection is a multiset: the same items in another order
    hash the same and diff to nothing, in a field, inside an object and inside a keyed row."""
    old = {"Code": "T1", "Tags": ["b", 1, "a"], "Attrs": {"sizes": [3, 1, 2]}}
    old |= {"Rows": [{"RowCode": "A", "Codes": ["x", "y"]}]}
    new = {"Code": "T1", "Tags": ["a", "b", 1.0], "Attrs": {"sizes": [1, 2, 3]}}
    new |= {"Rows": [{"RowCode": "A", "Codes": ["y", "x"]}]}
    assert canonical_bytes(normalise(THING, old)) == canonical_bytes(normalise(THING, new))
    assert rows_of(old, new) == []


def test_a_list_change_says_which_items_it_gained_and_lost() -> None:
    """Old and new are both lists in canonical order; ``added`` and ``removed`` name the items
    that came and went (a repeat counts: one 'a' fewer is one 'a' removed)."""
    (row,) = rows_of({"Code": "T1", "Tags": ["b", "a", "a"]}, {"Code": "T1", "Tags": ["c", "a"]})
    (change,) = row.fields
    assert change.to_json() == {
        "field": "Tags",
        "old": ["a", "a", "b"],
        "new": ["a", "c"],
        "added": ["c"],
        "removed": ["a", "b"],
    }


def test_a_repeated_item_is_a_change() -> None:
    """Duplicates count: ["a"] and ["a", "a"] differ, and so do their hashes."""
    (row,) = rows_of({"Code": "T1", "Tags": ["a"]}, {"Code": "T1", "Tags": ["a", "a"]})
    assert row.fields[0].to_json() | {"old": None, "new": None} == {
        "field": "Tags",
        "old": None,
        "new": None,
        "added": ["a"],
        "removed": [],
    }


def test_objects_with_no_declared_key_are_their_own_key() -> None:
    """A list of objects that is not a keyed collection: reordering it is no change; changing
    one object's field is that object removed and the changed one added."""
    old = {"Code": "T1", "Parts": [{"x": 1, "y": ["b", "a"]}, {"x": 2}]}
    assert rows_of(old, {"Code": "T1", "Parts": [{"x": 2}, {"y": ["a", "b"], "x": 1}]}) == []
    (row,) = rows_of(old, {"Code": "T1", "Parts": [{"x": 2}, {"x": 3, "y": ["a", "b"]}]})
    (change,) = row.fields
    assert (change.to_json()["added"], change.to_json()["removed"]) == (
        [{"x": 3, "y": ["a", "b"]}],
        [{"x": 1, "y": ["a", "b"]}],
    )


def test_a_body_stored_with_a_list_in_sent_order_diffs_equal_to_its_reordering() -> None:
    """A snapshot stored before lists were put in canonical order holds a list as it was sent:
    the same items again are no change (its hash differs once, the diff finds nothing)."""
    stored = {"Code": "T1", "Tags": ["b", "a"], "Attrs": {"sizes": [2, 1]}}
    new = normalise(THING, {"Code": "T1", "Tags": ["a", "b"], "Attrs": {"sizes": [1, 2]}})
    assert diff_entity(THING, key="T1", parent_key=None, old=stored, new=new).rows == ()


def test_true_and_one_differ_inside_lists_too() -> None:
    """[1] and [true] differ, whatever the order of the rest."""
    (row,) = rows_of({"Code": "T1", "Tags": [True, "a"]}, {"Code": "T1", "Tags": ["a", 1]})
    assert row.fields[0].to_json()["added"] == [1]
