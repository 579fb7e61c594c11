"""Merge feeds: a partial record applied over the stored one, absent fields kept."""

from __future__ import annotations

from typing import Any

from deltahook.catalog.entities import EntityKind
from deltahook.changes import canonical


def without_unsent(kind: EntityKind, record: dict[str, Any]) -> dict[str, Any]:
    """The record less the fields its kind says are "not sent" when null or 0."""
    return {
        name: value
        for name, value in record.items()
        if not (name in kind.not_sent_when_empty and _is_empty(value))
    }


def _is_empty(value: Any) -> bool:
    """Null or a numeric zero: how some imports say "not sent" (never ``false``)."""
    return value is None or (type(value) in (int, float) and value == 0)


def merge_records(kind: EntityKind, base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """A merge record applied to a stored record: absent fields keep their value.

    Keyed collections merge row by row: rows in the patch are merged into the stored row with
    the same key (or added); rows the patch leaves out are kept. Two rows of the patch with one
    key raise ``NormaliseError``, as they do in a whole record: which one holds the value
    cannot be known.
    """
    merged = dict(base)
    for name, value in patch.items():
        coll = kind.collections.get(name)
        if coll is None or not isinstance(value, list) or not isinstance(merged.get(name), list):
            merged[name] = value
            continue
        rows = {canonical.key_string([r.get(k) for k in coll.key]): r for r in merged[name]}
        sent: set[str] = set()
        for row in value:
            row_key = canonical.key_string([row.get(k) for k in coll.key])
            if row_key in sent:
                raise canonical.duplicate_row(name, row_key)
            sent.add(row_key)
            rows[row_key] = {**rows.get(row_key, {}), **row}
        merged[name] = list(rows.values())
    return merged
