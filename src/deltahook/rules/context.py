"""What a rule sees of one row change, and references into it compiled to getters.

A reference is ``scope.Field``:

- ``new.X`` / ``old.X``: the row after / before the change (absent for an insert / a delete);
- ``row.X``: the row after the change, or before it for a delete;
- ``entity.X``: a root field of the entity the row belongs to;
- ``parent.X``: a root field of the parent entity (the SKU of a price or stock row);
- ``const.X``: a project constant (``ClientId``, ``ApplicationId``, from the config file);
- ``setting.table`` / ``setting.id`` / ``setting.kind`` / ``setting.type``, and for a breakpoint
  ``setting.direction`` (``down`` or ``up``).

Key fields of nested rows (``PartNo`` of a SKU culture row) are found through the row key.
A value that is not there is ``MISSING``, which is not ``null``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from deltahook.changes.model import MISSING, EntityChange, RowChange
from deltahook.rules.source import suggest
from deltahook.rules.tables import TableInfo, Types, type_of

SCOPES = ("new", "old", "row", "entity", "parent", "const", "setting")
ROW_SCOPES = frozenset({"new", "old", "row"})
SETTING_ATTRIBUTES = ("id", "kind", "table", "type", "direction")  # direction: breakpoints
_EMPTY: Mapping[str, Any] = {}


@dataclass(slots=True)
class Ctx:
    """One row change as rules see it."""

    change: EntityChange
    row: RowChange
    entity: Mapping[str, Any]
    parent: Mapping[str, Any] | None = None

    @classmethod
    def of(cls, change: EntityChange, row: RowChange) -> Ctx:
        body = change.new if change.new is not None else change.old
        return cls(change, row, body if body is not None else _EMPTY)


Getter = Callable[[Ctx], Any]


@dataclass(frozen=True, slots=True)
class Ref:
    """A parsed ``scope.name`` reference."""

    scope: str
    name: str

    def __str__(self) -> str:
        return f"{self.scope}.{self.name}"


def parse_ref(text: str) -> Ref | None:
    """``Ref`` for ``scope.name`` with a known scope, else None."""
    scope, dot, name = text.partition(".")
    if not dot or scope not in SCOPES or not name:
        return None
    return Ref(scope, name)


def row_getter(scope: str, name: str, *, key_only: bool) -> Getter:
    """A getter for ``new.X`` / ``old.X`` / ``row.X``; key-only fields come from the row key."""
    if key_only:
        return _key_getter(scope, name)
    if scope == "new":
        return lambda c: MISSING if c.row.new is None else c.row.new.get(name, MISSING)
    if scope == "old":
        return lambda c: MISSING if c.row.old is None else c.row.old.get(name, MISSING)

    def row(c: Ctx) -> Any:
        body = c.row.new if c.row.new is not None else c.row.old
        return MISSING if body is None else body.get(name, MISSING)

    return row


def _key_getter(scope: str, name: str) -> Getter:
    if scope == "new":
        return lambda c: MISSING if c.row.new is None else c.row.key.get(name, MISSING)
    if scope == "old":
        return lambda c: MISSING if c.row.old is None else c.row.key.get(name, MISSING)
    return lambda c: c.row.key.get(name, MISSING)


def entity_getter(name: str) -> Getter:
    return lambda c: c.entity.get(name, MISSING)


def parent_getter(name: str) -> Getter:
    return lambda c: MISSING if c.parent is None else c.parent.get(name, MISSING)


def constant(value: Any) -> Getter:
    return lambda _c: value


def resolve(  # noqa: PLR0911  (one return per scope reads as a table)
    ref: Ref,
    table: TableInfo,
    *,
    constants: Mapping[str, Any],
    setting: Mapping[str, str],
    allow: frozenset[str] = frozenset(SCOPES),
) -> tuple[Getter, Types] | str:
    """The getter of ``ref`` for rows of ``table`` and the JSON types it may yield, or why not."""
    if ref.scope not in allow:
        return f"{ref.scope}. cannot be used here (use one of: {', '.join(sorted(allow))})"
    if ref.scope in ROW_SCOPES:
        types = table.row_field_types(ref.name)
        if types is None:
            hint = suggest(ref.name, table.all_row_fields())
            return f"{table.table} has no field {ref.name!r}{hint}"
        key_only = ref.name not in table.fields
        return row_getter(ref.scope, ref.name, key_only=key_only), types
    if ref.scope == "entity":
        return _field_of(ref.name, table.entity_fields, f"entity {table.kind!r}", entity_getter)
    if ref.scope == "parent":
        if table.parent_kind is None:
            return f"entity kind {table.kind!r} has no parent"
        return _field_of(
            ref.name, table.parent_fields, f"parent {table.parent_kind!r}", parent_getter
        )
    if ref.scope == "const":
        if ref.name not in constants:
            return f"no constant {ref.name!r} in the config file{suggest(ref.name, constants)}"
        value = constants[ref.name]
        return constant(value), frozenset({type_of(value)})
    if ref.name == "direction" and ref.name not in setting:
        return "setting.direction is known only for a breakpoint setting"
    if ref.name not in setting:
        return f"setting has no attribute {ref.name!r}{suggest(ref.name, setting)}"
    return constant(setting[ref.name]), frozenset({"string"})


def _field_of(
    name: str, fields: Mapping[str, Types], what: str, make: Callable[[str], Getter]
) -> tuple[Getter, Types] | str:
    types = fields.get(name)
    if types is None:
        return f"{what} has no field {name!r}{suggest(name, fields)}"
    return make(name), types
