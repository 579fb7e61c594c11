"""The values change detection produces: row changes grouped by entity."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final, NamedTuple

from deltahook.changes.canonical import item_key


class _Missing:
    """The value of a field that is absent, which is not the same as ``null``."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Final = _Missing()


class Op(StrEnum):
    """What happened to a row or an entity."""

    INSERT = "insert"
    UPDATE = "update"
    DELETE = "delete"


class FieldChange(NamedTuple):
    """One field of a row with its old and new value; either may be ``MISSING``.

    A named tuple rather than a frozen dataclass: a first load makes about 40 of them for each
    new entity, and a tuple is made in half the time (a quarter made as in ``changes.diff``).
    """

    field: str
    old: Any
    new: Any

    def to_json(self) -> dict[str, Any]:
        """The change as JSON; a list that changed (a multiset) also says which items it gained
        (``added``) and lost (``removed``)."""
        out: dict[str, Any] = {"field": self.field}
        if self.old is not MISSING:
            out["old"] = self.old
        if self.new is not MISSING:
            out["new"] = self.new
        if type(self.old) is list and type(self.new) is list:
            out["added"], out["removed"] = _added_removed(self.old, self.new)
        return out


def _added_removed(old: list[Any], new: list[Any]) -> tuple[list[Any], list[Any]]:
    """The items of ``new`` beyond those of ``old``, and of ``old`` beyond ``new`` (a repeated
    item counts as often as it is there), each in its list's order."""
    left = Counter(item_key(item) for item in old)
    added = []
    for item in new:
        key = item_key(item)
        if left[key]:
            left[key] -= 1
        else:
            added.append(item)
    removed = []
    for item in old:
        key = item_key(item)
        if left[key]:
            left[key] -= 1
            removed.append(item)
    return added, removed


# A field as stored (the change log, packed explanations) is [name, mask, old, new]: mask bit 1
# says old is present, bit 2 new (a missing field is not the same as null).
def pack_field(name: str, old: Any, new: Any) -> list[Any]:
    """A field change as stored (see ``unpack_field``)."""
    if old is MISSING:  # an inserted field, the most common by far (a first load)
        return [name, 0, None, None] if new is MISSING else [name, 2, None, new]
    return [name, 3, old, new] if new is not MISSING else [name, 1, old, None]


def unpack_field(item: list[Any]) -> tuple[str, Any, Any]:
    """A stored field change (``pack_field``) as (name, old, new), ``MISSING`` where absent."""
    name, mask, old, new = item
    return name, old if mask & 1 else MISSING, new if mask & 2 else MISSING


@dataclass(frozen=True, slots=True, kw_only=True)
class RowChange:
    """One row of one table inserted, updated or deleted.

    ``key`` holds the entity key fields plus the row's own key fields; ``old`` and ``new`` are the
    whole row before and after (None for an insert or a delete); ``fields`` lists what changed.
    """

    table: str
    key: Mapping[str, Any]
    op: Op
    fields: tuple[FieldChange, ...]
    old: Mapping[str, Any] | None
    new: Mapping[str, Any] | None

    def changed(self) -> frozenset[str]:
        return frozenset(change.field for change in self.fields)

    def to_json(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "key": dict(self.key),
            "op": self.op.value,
            "fields": [change.to_json() for change in self.fields],
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class EntityChange:
    """Everything that changed in one entity, with its snapshot before and after.

    ``old`` and ``new`` are normalised bodies (keyed collections as mappings by row key); a
    new entity has ``old`` None and a deleted one ``new`` None.
    """

    kind: str
    key: str
    parent_key: str | None
    op: Op
    old: Mapping[str, Any] | None
    new: Mapping[str, Any] | None
    rows: tuple[RowChange, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "key": self.key,
            "op": self.op.value,
            "rows": [row.to_json() for row in self.rows],
        }
