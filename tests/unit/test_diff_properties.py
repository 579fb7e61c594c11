"""Properties of canonical hashing and the keyed diff, on generated entities."""

from __future__ import annotations

from typing import Any

from deepdiff import DeepDiff
from hypothesis import given
from hypothesis import strategies as st

from deltahook.changes.canonical import canonical_bytes, digest, normalise
from deltahook.changes.diff import _diff_rows, diff_entity
from deltahook.changes.model import MISSING, Op, RowChange
from tests.strategies import ROOT_TABLE, THING, things

Change = tuple[str, str, str]  # (table, row key, field or "+"/"-" for a row added/removed)


def _diff(old: dict[str, Any], new: dict[str, Any]) -> list[Any]:
    a, b = normalise(THING, old), normalise(THING, new)
    return list(diff_entity(THING, key="k", parent_key=None, old=a, new=b).rows)


def _ours(old: dict[str, Any], new: dict[str, Any]) -> set[Change]:
    found: set[Change] = set()
    for row in _diff(old, new):
        row_key = str(row.key.get("RowCode", ""))
        if row.op is Op.UPDATE:
            found |= {(row.table, row_key, change.field) for change in row.fields}
        else:
            found.add((row.table, row_key, "+" if row.op is Op.INSERT else "-"))
    return found


def _reference(old: dict[str, Any], new: dict[str, Any]) -> set[Change]:
    """What DeepDiff, configured as DESIGN.md section 8 says, reports at row/field granularity;
    lists that are not keyed collections compared as multisets (DESIGN.md section 3: reordering a
    list is not a change, while an item repeated once more is)."""
    a, b = normalise(THING, old), normalise(THING, new)
    tree = DeepDiff(
        a,
        b,
        view="tree",
        threshold_to_diff_deeper=0,
        ignore_numeric_type_changes=True,
        ignore_order=True,
        report_repetition=True,
    )
    found: set[Change] = set()
    for report, items in tree.items():
        for item in items:
            path = item.path(output_format="list")
            if path[0] != "Rows":
                found.add((ROOT_TABLE, "", path[0]))
            elif len(path) == 1:  # the whole collection appeared or went away
                rows_now = (b if "added" in report else a)["Rows"]
                sign = "+" if "added" in report else "-"
                found |= {("tThingRow", key, sign) for key in rows_now}
            elif len(path) == 2:
                found.add(("tThingRow", str(path[1]), "+" if "added" in report else "-"))
            else:
                found.add(("tThingRow", str(path[1]), str(path[2])))
    return found


@given(things())
def test_an_entity_diffed_with_itself_has_no_changes(body: dict[str, Any]) -> None:
    """diff(a, a) is empty."""
    assert _diff(body, body) == []


@given(things(code="T1"), things(code="T1"))
def test_the_diff_agrees_with_deepdiff(old: dict[str, Any], new: dict[str, Any]) -> None:
    """The fast keyed walk finds exactly the changes DeepDiff finds, row by row, field by field."""
    assert _ours(old, new) == _reference(old, new)


def _shuffled(value: Any, rnd: Any) -> Any:
    """``value`` with the keys of every object and the items of every list in a random order."""
    if isinstance(value, dict):
        return {k: _shuffled(v, rnd) for k, v in rnd.sample(list(value.items()), len(value))}
    if isinstance(value, list):
        return [_shuffled(v, rnd) for v in rnd.sample(value, len(value))]
    return value


@given(things(), st.randoms(use_true_random=False))
def test_hashing_is_blind_to_key_order_and_list_order(body: dict[str, Any], rnd: Any) -> None:
    """Shuffling keys, keyed rows and the items of plain lists (of values, of objects with no
    key, at any depth) gives the same canonical bytes and hash, and no change."""
    shuffled = _shuffled(body, rnd)
    a = canonical_bytes(normalise(THING, body))
    b = canonical_bytes(normalise(THING, shuffled))
    assert a == b
    assert digest(a) == digest(b)
    assert _diff(body, shuffled) == []


@given(things())
def test_integral_floats_equal_integers(body: dict[str, Any]) -> None:
    """Writing 5 as 5.0 anywhere changes neither the hash nor the diff."""

    def floated(value: Any) -> Any:
        if type(value) is int:
            return float(value)
        if isinstance(value, dict):
            return {k: floated(v) for k, v in value.items()}
        if isinstance(value, list):
            return [floated(v) for v in value]
        return value

    other = floated(body)
    assert canonical_bytes(normalise(THING, body)) == canonical_bytes(normalise(THING, other))
    assert _diff(body, other) == []


@given(things())
def test_a_new_entity_gets_the_row_changes_the_general_walk_makes(body: dict[str, Any]) -> None:
    """A new entity's rows, made directly for a first load, are those (and in the order) that
    the walk over an old and a new body makes, with each field changed from MISSING."""
    new = normalise(THING, body)
    direct = diff_entity(THING, key="k", parent_key=None, old=None, new=new).rows
    walked: list[RowChange] = []
    _diff_rows(walked, THING.table, {"Code": new["Code"]}, None, new, THING.collections)
    assert list(direct) == walked
    assert all(row.op is Op.INSERT and row.old is None for row in direct)
    assert all(f.old is MISSING and f.new == row.new[f.field] for row in direct for f in row.fields)


def test_a_collection_equal_to_python_but_not_canonically_is_compared_row_by_row() -> None:
    """Rows that Python finds equal (``True == 1``) are not the same to the diff: a collection
    is passed over whole only when its canonical bytes are the same too."""
    old = {"Code": "T1", "Rows": [{"RowCode": "a", "Flag": True}, {"RowCode": "b", "Flag": 2}]}
    new = {"Code": "T1", "Rows": [{"RowCode": "a", "Flag": 1}, {"RowCode": "b", "Flag": 2}]}
    assert _ours(old, new) == {("tThingRow", "a", "Flag")}
