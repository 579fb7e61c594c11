"""References between entity kinds: which field of one kind names an entity of another.

A kind's annotation may say ``"references": {"ManufacturerCode": "manufacturer",
"Categories.CategoryCode": "category"}``: the SKU's ``ManufacturerCode`` is the key of a
manufacturer, and each row of its ``Categories`` collection names a category. The store keeps
these pairs in an indexed table, so a change to a manufacturer can be fanned out to the SKUs
that reference it without reading their snapshots.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from deltahook.changes.canonical import key_part
from deltahook.errors import CatalogError


@dataclass(frozen=True, slots=True, kw_only=True)
class Reference:
    """One field (a root field, or a field of a collection's rows) naming a ``kind``."""

    kind: str
    path: tuple[str, ...]  # ("ManufacturerCode",) or ("Categories", "CategoryCode")

    @property
    def field(self) -> str:
        return ".".join(self.path)

    def add_named(self, body: Mapping[str, Any], found: set[tuple[str, str]]) -> None:
        """Add the (kind, key) pairs this reference names in one entity body to ``found``
        (absent and null name nothing). A first load runs this for every entity: written out."""
        value = body.get(self.path[0])
        if value is None:
            return
        if len(self.path) == 1:
            found.add((self.kind, key_part(value)))
            return
        # A collection: a list of rows, or in a canonical body a mapping by row key.
        rows = value.values() if type(value) is dict else value if type(value) is list else ()
        name = self.path[1]
        for row in rows:
            if type(row) is dict and (named := row.get(name)) is not None:
                found.add((self.kind, key_part(named)))


def parse_references(
    where: str, value: Any, properties: Mapping[str, Any], collections: Mapping[str, Any]
) -> tuple[Reference, ...]:
    """The references an annotation declares, checked against the schema's fields."""
    if value is None:
        return ()
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise CatalogError(where, 'references must be an object of {"Field": "kind"}')
    found = []
    for name, kind in sorted(value.items()):
        path = tuple(name.split("."))
        if not _exists(path, properties, collections):
            raise CatalogError(where, f"references names unknown field {name!r}")
        found.append(Reference(kind=kind, path=path))
    return tuple(found)


def _exists(path: tuple[str, ...], properties: Mapping[str, Any], collections: Any) -> bool:
    if len(path) == 1:
        return path[0] in properties and path[0] not in collections
    if len(path) != 2 or path[0] not in collections:
        return False
    items = properties[path[0]].get("items", {})
    return path[1] in items.get("properties", {})


def check_references(
    where: str, references: tuple[Reference, ...], keys: Mapping[str, tuple[str, ...]]
) -> None:
    """Each referenced kind exists and is keyed by one field (the value the reference holds)."""
    for ref in references:
        key = keys.get(ref.kind)
        if key is None:
            raise CatalogError(where, f"{ref.field} references unknown kind {ref.kind!r}")
        if len(key) != 1:
            raise CatalogError(
                where, f"{ref.field} references {ref.kind!r}, which needs a key of one field"
            )
