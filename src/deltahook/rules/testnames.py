"""The names a rule test file uses, checked against the catalogs before anything runs.

A misspelt type in ``only:`` would filter every notification away and the case would pass
having compared nothing; a misspelt kind, field or payload property would test something
other than what its author meant. Each is a located problem with a did-you-mean: event types
(``only``, ``expect[].type``), entity kinds and their fields (``defaults``, ``given``,
``feed``, nested collections included), payload properties of the expected type and values
outside a property's enum (``EntityChanged: tClientProductSKU``).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from deltahook.catalog.entities import Catalog
from deltahook.catalog.entities import Collection as Nested
from deltahook.catalog.events import EventCatalog, unknown_type_message
from deltahook.rules.source import Node, Reader, suggest, value_of
from deltahook.yamlnodes import is_mapping, is_scalar, is_sequence


@dataclass(frozen=True, slots=True)
class TestNames:
    """What a rule test may name: the entity catalog and the event catalog."""

    __test__ = False  # not a pytest class

    catalog: Catalog
    events: EventCatalog

    def check(self, reader: Reader, top: Mapping[str, tuple[Node, Node]]) -> None:
        """Record a problem for each unknown name in a test file's top-level entries."""
        if "defaults" in top:
            for kind_node, record in _pairs(top["defaults"][1]):
                if self._kind(reader, kind_node):
                    self._record(reader, record, kind_node.value)
        for case in _items(top["cases"][1]) if "cases" in top else []:
            entries = dict(_pairs(case, keys_only=False))
            self._case(reader, entries)
            for step in _items(entries.get("steps")):
                self._case(reader, dict(_pairs(step, keys_only=False)))

    def _case(self, reader: Reader, entries: Mapping[str, Any]) -> None:
        for node in _items(entries.get("only")) or _scalars(entries.get("only")):
            self._type(reader, node)
        for name in ("given", "feed"):
            for kind_node, records in _pairs(entries.get(name)):
                if self._kind(reader, kind_node):
                    for record in _items(records):
                        self._record(reader, record, kind_node.value)
        for item in _items(entries.get("expect")):
            if is_mapping(item):
                reader.mapping(item, "an expected notification", allowed=("type", "payload"))
            self._expected(reader, dict(_pairs(item, keys_only=False)))

    def _type(self, reader: Reader, node: Node) -> str | None:
        name = node.value if is_scalar(node) else None
        if isinstance(name, str) and self.events.get(name) is None:
            reader.error(node, unknown_type_message(name, self.events.names()))
            return None
        return name

    def _kind(self, reader: Reader, node: Node) -> bool:
        name = str(node.value)
        if name not in self.catalog:
            known = [k.name for k in self.catalog]
            reader.error(node, f"unknown entity kind {name!r}{suggest(name, known)}")
            return False
        return True

    def _record(self, reader: Reader, node: Node, kind: str) -> None:
        entity = self.catalog[kind]
        fields = set(entity.schema.get("properties", {})) | set(entity.collections)
        self._fields(reader, node, kind, fields, entity.collections)

    def _fields(
        self,
        reader: Reader,
        node: Node,
        owner: str,
        fields: Collection[str],
        nested: Mapping[str, Nested],
    ) -> None:
        for key, value in _pairs(node, keys_only=False):
            name = str(key)
            if name not in fields:
                reader.error(value[0], f"{owner} has no field {name!r}{suggest(name, fields)}")
            elif name in nested:
                coll = nested[name]
                for row in _items(value[1]):
                    known = set(coll.fields) | set(coll.collections) | set(coll.key)
                    self._fields(reader, row, coll.table, known, coll.collections)

    def _expected(self, reader: Reader, entries: Mapping[str, Any]) -> None:
        type_node = entries.get("type")
        name = self._type(reader, type_node[1]) if type_node else None
        event = self.events.get(name) if name else None
        if event is None or "payload" not in entries:
            return
        properties: Mapping[str, Any] = event.schema.get("properties", {})
        for key, (key_node, value_node) in _pairs(entries["payload"][1], keys_only=False):
            spec = properties.get(str(key))
            if spec is None:
                hint = suggest(str(key), properties)
                reader.error(key_node, f"{event.name} has no property {key!r}{hint}")
            elif "enum" in spec and is_scalar(value_node):
                self._enum(reader, value_node, f"{event.name}.{key}", spec["enum"])

    @staticmethod
    def _enum(reader: Reader, node: Node, where: str, allowed: list[Any]) -> None:
        value = value_of(node)
        if value not in allowed:
            hint = suggest(str(value), [str(a) for a in allowed])
            reader.error(node, f"{where}: {value!r} is not one of its values{hint}")


def _items(node: Node | tuple[Node, Node] | None) -> list[Node]:
    node = node[1] if isinstance(node, tuple) else node
    return list(node.value) if is_sequence(node) else []


def _scalars(node: tuple[Node, Node] | None) -> list[Node]:
    return [node[1]] if node and is_scalar(node[1]) else []


def _pairs(node: Node | tuple[Node, Node] | None, *, keys_only: bool = True) -> list[Any]:
    """A mapping's entries: ``(key node, value node)``, or ``(key, (key node, value node))``."""
    node = node[1] if isinstance(node, tuple) else node
    if not is_mapping(node):
        return []
    if keys_only:
        return list(node.value)
    return [(k.value, (k, v)) for k, v in node.value if is_scalar(k)]
