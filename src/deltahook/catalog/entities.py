"""Entity kinds, read from the annotated JSON Schemas in ``schemas/entities/``.

A kind's schema carries an ``x-deltahook`` annotation that says how its snapshots break into
rows: the root table and key, keyed nested collections (each a table of its own), the parent
kind, the scope of a full feed and what a full feed does to missing entities. The annotation is
checked strictly at load time so a typo fails at start, not in the middle of a nightly feed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import orjson

from deltahook.catalog import schema_cache
from deltahook.catalog.references import Reference, check_references, parse_references
from deltahook.errors import CatalogError

ANNOTATION = "x-deltahook"
_KIND_KEYS = {
    "kind",
    "table",
    "key",
    "parent",
    "scope",
    "on_missing",
    "not_sent_when_empty",
    "collections",
    "references",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Collection:
    """A keyed nested collection: a list of objects that are rows of their own table."""

    name: str
    table: str
    key: tuple[str, ...]
    fields: frozenset[str]
    collections: Mapping[str, Collection] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Parent:
    """The kind this one belongs to, and which of this kind's fields form the parent's key."""

    kind: str
    fields: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class EntityKind:
    """One kind of entity snapshot: its schema, key, tables and feed behaviour."""

    name: str
    path: Path
    schema: Mapping[str, Any]
    table: str
    key: tuple[str, ...]
    fields: frozenset[str]
    collections: Mapping[str, Collection]
    parent: Parent | None = None
    scope: tuple[str, ...] = ()
    on_missing: Literal["delete", "deactivate"] = "delete"
    deactivate: Mapping[str, Any] = field(default_factory=dict)
    not_sent_when_empty: frozenset[str] = frozenset()
    references: tuple[Reference, ...] = ()

    def referenced(self, body: Mapping[str, Any]) -> set[tuple[str, str]]:
        """The (kind, key) pairs of the entities ``body`` references."""
        found: set[tuple[str, str]] = set()
        for ref in self.references:
            ref.add_named(body, found)
        return found

    @property
    def refs_follow_key(self) -> bool:
        """True when parent key and scope are made of key fields, so they never change."""
        key = set(self.key)
        parent = set(self.parent.fields) if self.parent else set()
        return parent <= key and set(self.scope) <= key

    @property
    def is_flat(self) -> bool:
        """True when every property is a scalar, so the kind can be read from CSV."""
        return not self.collections and all(
            _json_types(spec) <= {"string", "integer", "number", "boolean", "null"}
            for spec in self.schema.get("properties", {}).values()
        )

    def tables(self) -> Iterator[tuple[str, frozenset[str]]]:
        """Every table this kind's rows belong to, with the fields of its rows."""
        yield self.table, self.fields
        stack = list(self.collections.values())
        while stack:
            coll = stack.pop()
            yield coll.table, coll.fields
            stack.extend(coll.collections.values())

    def property_types(self) -> Mapping[str, set[str]]:
        """The JSON types each root property admits (used to read CSV cells)."""
        return {name: _json_types(spec) for name, spec in self.schema.get("properties", {}).items()}


@dataclass(frozen=True, slots=True)
class Catalog:
    """Every entity kind, by name."""

    kinds: Mapping[str, EntityKind]

    def __getitem__(self, name: str) -> EntityKind:
        try:
            return self.kinds[name]
        except KeyError:
            known = ", ".join(sorted(self.kinds)) or "none"
            raise CatalogError(name, f"unknown entity kind (known kinds: {known})") from None

    def __contains__(self, name: object) -> bool:
        return name in self.kinds

    def __iter__(self) -> Iterator[EntityKind]:
        return iter(self.kinds.values())

    def table_owners(self) -> Mapping[str, list[EntityKind]]:
        """Which kinds have rows in each table."""
        owners: dict[str, list[EntityKind]] = {}
        for kind in self.kinds.values():
            for table, _ in kind.tables():
                owners.setdefault(table, []).append(kind)
        return owners


def load_catalog(directory: Path) -> Catalog:
    """Read every ``*.json`` schema in ``directory``; refuse the lot if one is wrong."""
    if not directory.is_dir():
        raise CatalogError(str(directory), "entity schema directory not found")
    kinds: dict[str, EntityKind] = {}
    for path in sorted(directory.glob("*.json")):
        kind = load_kind(path)
        kinds[kind.name] = kind
    if not kinds:
        raise CatalogError(str(directory), "no entity schemas (*.json) found")
    _check_parents(kinds)
    return Catalog(kinds)


def load_kind(path: Path) -> EntityKind:
    """Read and check one annotated entity schema."""
    try:
        schema = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise CatalogError(str(path), f"cannot read schema: {exc}") from exc
    _check_json_schema(path, schema)
    note = schema.get(ANNOTATION)
    if not isinstance(note, dict):
        raise CatalogError(str(path), f"missing {ANNOTATION!r} annotation object")
    return _kind_from_annotation(path, schema, note)


def _check_json_schema(path: Path, schema: Any) -> None:
    if not isinstance(schema, dict) or schema.get("type") != "object":
        raise CatalogError(
            str(path), 'an entity schema must be an object schema ("type": "object")'
        )
    error = schema_cache.draft7_schema_error(schema)
    if error is not None:
        raise CatalogError(str(path), f"invalid JSON Schema: {error.message}") from error


def _kind_from_annotation(path: Path, schema: dict[str, Any], note: dict[str, Any]) -> EntityKind:
    where = str(path)
    unknown = set(note) - _KIND_KEYS
    if unknown:
        raise CatalogError(where, f"unknown annotation keys: {', '.join(sorted(unknown))}")
    name = _require_str(where, note, "kind")
    if name != path.stem:
        raise CatalogError(where, f"kind {name!r} must match the file name {path.stem!r}")
    properties = schema.get("properties", {})
    key = _field_list(where, note, "key", properties, required=schema.get("required", []))
    on_missing, deactivate = _on_missing(where, note.get("on_missing", "delete"), properties)
    return EntityKind(
        name=name,
        path=path,
        schema=schema,
        table=_require_str(where, note, "table"),
        key=key,
        fields=frozenset(p for p in properties if p not in note.get("collections", {})),
        collections=_collections(where, note.get("collections", {}), properties),
        parent=_parent(where, note.get("parent"), properties),
        scope=_field_list(where, note, "scope", properties, optional=True),
        on_missing=on_missing,
        deactivate=deactivate,
        not_sent_when_empty=frozenset(
            _field_list(where, note, "not_sent_when_empty", properties, optional=True)
        ),
        references=parse_references(
            where, note.get("references"), properties, note.get("collections", {})
        ),
    )


def _require_str(where: str, note: Mapping[str, Any], name: str) -> str:
    value = note.get(name)
    if not isinstance(value, str) or not value:
        raise CatalogError(where, f"annotation {name!r} must be a non-empty string")
    return value


def _field_list(
    where: str,
    note: Mapping[str, Any],
    name: str,
    properties: Mapping[str, Any],
    *,
    required: list[str] | None = None,
    optional: bool = False,
) -> tuple[str, ...]:
    value = note.get(name)
    if value is None and optional:
        return ()
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise CatalogError(where, f"annotation {name!r} must be a non-empty list of field names")
    for field_name in value:
        if field_name not in properties:
            raise CatalogError(where, f"annotation {name!r} names unknown field {field_name!r}")
        if required is not None and field_name not in required:
            raise CatalogError(where, f"key field {field_name!r} must be listed in 'required'")
    return tuple(value)


def _on_missing(
    where: str, value: Any, properties: Mapping[str, Any]
) -> tuple[Literal["delete", "deactivate"], dict[str, Any]]:
    if value == "delete":
        return "delete", {}
    if (
        isinstance(value, dict)
        and set(value) == {"deactivate"}
        and isinstance(value["deactivate"], dict)
        and value["deactivate"]
    ):
        for field_name in value["deactivate"]:
            if field_name not in properties:
                raise CatalogError(where, f"on_missing deactivates unknown field {field_name!r}")
        return "deactivate", dict(value["deactivate"])
    raise CatalogError(where, 'on_missing must be "delete" or {"deactivate": {field: value}}')


def _parent(where: str, value: Any, properties: Mapping[str, Any]) -> Parent | None:
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) != {"kind", "fields"}:
        raise CatalogError(where, 'parent must be {"kind": ..., "fields": [...]}')
    fields = _field_list(where, value, "fields", properties)
    return Parent(kind=_require_str(where, value, "kind"), fields=fields)


def _collections(where: str, value: Any, properties: Mapping[str, Any]) -> dict[str, Collection]:
    if not isinstance(value, dict):
        raise CatalogError(where, "collections must be an object of {property: {table, key}}")
    result: dict[str, Collection] = {}
    for name, spec in value.items():
        prop = properties.get(name)
        items = prop.get("items") if isinstance(prop, dict) else None
        if not isinstance(prop, dict) or prop.get("type") != "array" or not isinstance(items, dict):
            raise CatalogError(where, f"collection {name!r} must be an array property of objects")
        if not isinstance(spec, dict) or not set(spec) <= {"table", "key", "collections"}:
            raise CatalogError(where, f"collection {name!r} must have 'table' and 'key'")
        item_props = items.get("properties", {})
        nested = spec.get("collections", {})
        result[name] = Collection(
            name=name,
            table=_require_str(where, spec, "table"),
            key=_field_list(where, spec, "key", item_props, required=items.get("required", [])),
            fields=frozenset(p for p in item_props if p not in nested),
            collections=_collections(where, nested, item_props),
        )
    return result


def _check_parents(kinds: Mapping[str, EntityKind]) -> None:
    keys = {name: kind.key for name, kind in kinds.items()}
    for kind in kinds.values():
        check_references(str(kind.path), kind.references, keys)
        if kind.parent is None:
            continue
        parent = kinds.get(kind.parent.kind)
        if parent is None:
            raise CatalogError(str(kind.path), f"parent kind {kind.parent.kind!r} does not exist")
        if len(parent.key) != len(kind.parent.fields):
            raise CatalogError(
                str(kind.path),
                f"parent fields {list(kind.parent.fields)} do not match the key of "
                f"{parent.name!r} {list(parent.key)}",
            )


def _json_types(spec: Any) -> set[str]:
    kind = spec.get("type") if isinstance(spec, dict) else None
    if isinstance(kind, str):
        return {kind}
    if isinstance(kind, list):
        return {str(t) for t in kind}
    return {"object"}
