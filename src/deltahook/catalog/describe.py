"""An entity kind described for rule authors: its tables, keys, typed fields and references."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from deltahook.catalog.entities import Catalog, Collection, EntityKind


def describe_kind(catalog: Catalog, name: str) -> dict[str, Any]:
    """Tables (root first) with key and fields, parent, references both ways; JSON-ready."""
    kind = catalog[name]
    props = kind.schema.get("properties", {})
    tables = [_table(kind.table, list(kind.key), props, exclude=kind.collections)]
    tables.extend(_collections(kind.collections, props, list(kind.key)))
    return {
        "kind": kind.name,
        "description": kind.schema.get("description", ""),
        "tables": tables,
        "parent": _parent(kind),
        "scope": list(kind.scope),
        "references": [{"field": r.field, "kind": r.kind} for r in kind.references],
        "referenced_by": [
            {"kind": other.name, "field": r.field}
            for other in sorted(catalog, key=lambda k: k.name)
            for r in other.references
            if r.kind == kind.name
        ],
    }


def _parent(kind: EntityKind) -> dict[str, Any] | None:
    if kind.parent is None:
        return None
    return {"kind": kind.parent.kind, "fields": list(kind.parent.fields)}


def _collections(
    collections: Mapping[str, Collection], props: Mapping[str, Any], outer: list[str]
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for name, coll in collections.items():
        items = props.get(name, {}).get("items", {}).get("properties", {})
        key = [*outer, *coll.key]
        out.append(_table(coll.table, key, items, exclude=coll.collections, collection=name))
        out.extend(_collections(coll.collections, items, key))
    return out


def _table(
    table: str,
    key: list[str],
    props: Mapping[str, Any],
    *,
    exclude: Mapping[str, Any],
    collection: str | None = None,
) -> dict[str, Any]:
    fields = [
        {
            "field": field,
            "types": _types(spec),
            "description": spec.get("description", "") if isinstance(spec, dict) else "",
        }
        for field, spec in props.items()
        if field not in exclude
    ]
    return {"table": table, "collection": collection, "key": key, "fields": fields}


def _types(spec: Any) -> list[str]:
    kind = spec.get("type") if isinstance(spec, dict) else None
    if isinstance(kind, str):
        return [kind]
    return sorted(str(t) for t in kind) if isinstance(kind, list) else ["any"]


def describe_text(described: Mapping[str, Any]) -> list[str]:
    """The description as lines for a terminal: a block per table, then the references."""
    lines = [f"{described['kind']}: {described['description']}"]
    for table in described["tables"]:
        where = f" (collection {table['collection']})" if table["collection"] else ""
        lines.append("")
        lines.append(f"{table['table']}  key: {', '.join(table['key'])}{where}")
        width = max((len(f["field"]) for f in table["fields"]), default=0)
        for field in table["fields"]:
            types = "|".join(field["types"])
            lines.append(f"  {field['field']:<{width}}  {types:<14} {field['description']}")
    lines.append("")
    if described["parent"]:
        parent = described["parent"]
        lines.append(f"parent: {parent['kind']} (by {', '.join(parent['fields'])})")
    for ref in described["references"]:
        lines.append(f"references: {ref['field']} -> {ref['kind']}")
    for ref in described["referenced_by"]:
        lines.append(f"referenced by: {ref['kind']}.{ref['field']}")
    return lines
