"""What rules can name: every table of the entity catalog, with its fields and their JSON types.

A table's rows carry their own fields; the row key of a nested row also carries the key fields
of the entity (and of any collection it sits in), so ``row.PartNo`` works for a culture row of a
SKU. A table may belong to more than one kind (``tClientCustomer`` is the root of ``customer``
and a nested collection of ``company``); a setting on such a table names its kind.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from deltahook.catalog.entities import Catalog, Collection, EntityKind

Types = frozenset[str]


@dataclass(frozen=True, slots=True, kw_only=True)
class TableInfo:
    """One table of one entity kind."""

    kind: str
    table: str
    is_root: bool
    fields: Mapping[str, Types]  # the row's own fields
    key_fields: Mapping[str, Types]  # identity fields from the entity (and outer collections)
    entity_fields: Mapping[str, Types]  # root fields of the entity
    parent_kind: str | None
    parent_fields: Mapping[str, Types]  # root fields of the parent entity
    # The kinds whose schemas reference this one, each with its key fields (a fan-out target).
    referrers: Mapping[str, Mapping[str, Types]] = field(default_factory=dict)

    def row_field_types(self, name: str) -> Types | None:
        """The JSON types of ``row.name`` (own field or key field), or None when unknown."""
        found = self.fields.get(name)
        return found if found is not None else self.key_fields.get(name)

    def all_row_fields(self) -> list[str]:
        return sorted(set(self.fields) | set(self.key_fields))


def table_index(catalog: Catalog) -> dict[str, list[TableInfo]]:
    """Every table by name, with each kind that has rows in it."""
    index: dict[str, list[TableInfo]] = {}
    referrers = _referrers(catalog)
    for kind in catalog:
        parent = catalog.kinds.get(kind.parent.kind) if kind.parent else None
        parent_fields = root_fields(parent) if parent is not None else {}
        entity = root_fields(kind)
        base: dict[str, Any] = {
            "kind": kind.name,
            "entity_fields": entity,
            "parent_kind": parent.name if parent is not None else None,
            "parent_fields": parent_fields,
            "referrers": referrers.get(kind.name, {}),
        }
        index.setdefault(kind.table, []).append(
            TableInfo(table=kind.table, is_root=True, fields=entity, key_fields={}, **base)
        )
        key_types = {name: entity.get(name, frozenset()) for name in kind.key}
        props = kind.schema.get("properties", {})
        for info in _collection_tables(kind.collections, props, key_types, base):
            index.setdefault(info.table, []).append(info)
    return index


def _referrers(catalog: Catalog) -> dict[str, dict[str, Mapping[str, Types]]]:
    """Per referenced kind, the kinds that reference it and their key fields."""
    found: dict[str, dict[str, Mapping[str, Types]]] = {}
    for kind in catalog:
        fields = root_fields(kind)
        for ref in kind.references:
            found.setdefault(ref.kind, {})[kind.name] = {k: fields[k] for k in kind.key}
    return found


def _collection_tables(
    collections: Mapping[str, Collection],
    props: Mapping[str, Any],
    outer_keys: Mapping[str, Types],
    base: Mapping[str, Any],
) -> list[TableInfo]:
    out: list[TableInfo] = []
    for name, coll in collections.items():
        item_props = _item_properties(props.get(name))
        fields = {
            field: json_types(spec)
            for field, spec in item_props.items()
            if field not in coll.collections
        }
        out.append(
            TableInfo(table=coll.table, is_root=False, fields=fields, key_fields=outer_keys, **base)
        )
        inner = dict(outer_keys) | {k: fields.get(k, frozenset()) for k in coll.key}
        out.extend(_collection_tables(coll.collections, item_props, inner, base))
    return out


def root_fields(kind: EntityKind) -> dict[str, Types]:
    props = kind.schema.get("properties", {})
    return {name: json_types(props.get(name)) for name in sorted(kind.fields)}


def _item_properties(spec: Any) -> Mapping[str, Any]:
    items = spec.get("items") if isinstance(spec, dict) else None
    props = items.get("properties") if isinstance(items, dict) else None
    return props if isinstance(props, dict) else {}


def json_types(spec: Any) -> Types:
    """The JSON types a property admits (``integer`` implies ``number`` for comparisons)."""
    kind = spec.get("type") if isinstance(spec, dict) else None
    if isinstance(kind, str):
        found = {kind}
    elif isinstance(kind, list):
        found = {str(t) for t in kind}
    else:
        return frozenset({"string", "number", "integer", "boolean", "null", "object", "array"})
    if "integer" in found:
        found.add("number")
    return frozenset(found)


def type_of(value: Any) -> str:
    """The JSON type of a plain value (an integral float counts as an integer)."""
    if isinstance(value, float):
        return "integer" if value.is_integer() else "number"
    return _JSON_TYPES.get(type(value), "object")


_JSON_TYPES: dict[type, str] = {
    type(None): "null",
    bool: "boolean",
    int: "integer",
    str: "string",
    list: "array",
    tuple: "array",
}
