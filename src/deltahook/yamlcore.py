"""The bounded, checking YAML loader ``yamlsafe`` composes with: YAML 1.2 core types, at most
``MAX_DEPTH`` deep and ``MAX_NODES`` nodes (aliases counted at their full size), core tags only,
integers of at most ``MAX_DIGITS`` digits, every problem a located ``YamlProblem`` (see
``yamlsafe``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.events import AliasEvent, MappingEndEvent, SequenceEndEvent
from yaml.parser import Parser
from yaml.reader import Reader as StreamReader
from yaml.resolver import BaseResolver
from yaml.scanner import Scanner

from deltahook.yamlnodes import (
    FLOAT,
    INT,
    TAG,
    YamlProblem,
    core_bool,
    core_float,
    core_int,
    scalar_value,
)

__all__ = ["CORE_TAGS", "CoreConstructor", "CoreResolver", "Loader", "YamlProblem"]

MAX_DEPTH = 64
MAX_NODES = 100_000
_TAG = TAG
CORE_TAGS = frozenset(_TAG + t for t in ("null", "bool", "int", "float", "str", "seq", "map"))


class CoreResolver(BaseResolver):
    """The YAML 1.2 core schema's implicit types (no YAML 1.1 yes/no/on/off, no dates)."""


CoreResolver.add_implicit_resolver(
    _TAG + "bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
CoreResolver.add_implicit_resolver(
    _TAG + "null", re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""]
)
CoreResolver.add_implicit_resolver(
    _TAG + "int", re.compile(rf"^(?:{INT.pattern})$"), list("-+0123456789")
)
CoreResolver.add_implicit_resolver(
    _TAG + "float", re.compile(rf"^(?:{FLOAT.pattern})$"), list("-+.0123456789")
)


class CoreConstructor(SafeConstructor):
    """Builds plain values from core-schema nodes, reading scalars by YAML 1.2's rules."""

    def construct_yaml_bool(self, node: yaml.Node) -> bool:
        return core_bool(str(self.construct_scalar(node)))  # type: ignore[arg-type]

    def construct_yaml_int(self, node: yaml.Node) -> int:
        return core_int(str(self.construct_scalar(node)))  # type: ignore[arg-type]

    def construct_yaml_float(self, node: yaml.Node) -> float:
        return core_float(str(self.construct_scalar(node)))  # type: ignore[arg-type]


for _name in ("bool", "int", "float"):
    CoreConstructor.add_constructor(
        _TAG + _name, getattr(CoreConstructor, f"construct_yaml_{_name}")
    )


def _scalar_value(node: yaml.ScalarNode) -> Any:
    return scalar_value(node.tag, node.value)


@dataclass(slots=True)
class _Bounds:  # what a document has expanded to so far
    nodes: int = 0
    depth: int = 0
    sizes: dict[int, int] = field(default_factory=dict)  # id(anchored node) -> expanded size
    open: set[int] = field(default_factory=set)  # ids of collections being composed


class Loader(StreamReader, Scanner, Parser, Composer, CoreResolver):
    """PyYAML's pure-Python reader, scanner and parser with a bounded, checking composer."""

    def __init__(self, text: str) -> None:
        StreamReader.__init__(self, text)
        Scanner.__init__(self)
        Parser.__init__(self)
        Composer.__init__(self)
        CoreResolver.__init__(self)
        self.bounds = _Bounds()
        self.duplicates: list[YamlProblem] = []

    def _next(self) -> Any:
        return self.get_event()  # type: ignore[no-untyped-call]

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, AliasEvent):
            return self._alias(event)
        if self.bounds.depth >= MAX_DEPTH:
            raise _problem(event.start_mark, f"the document nests deeper than {MAX_DEPTH} levels")
        start = self.bounds.nodes
        self.bounds.depth += 1
        try:
            node = super().compose_node(parent, index)
        finally:
            self.bounds.depth -= 1
        assert node is not None  # an event that starts a node was peeked
        self._count(1, event.start_mark)
        if event.anchor is not None:
            self.bounds.sizes[id(node)] = self.bounds.nodes - start
        return node

    def _alias(self, event: AliasEvent) -> yaml.Node:
        self._next()
        node = self.anchors.get(event.anchor)
        if node is None:
            raise _problem(event.start_mark, f"alias *{event.anchor} names no anchor")
        if id(node) in self.bounds.open:
            raise _problem(event.start_mark, f"alias *{event.anchor} is inside the node it names")
        self._count(self.bounds.sizes.get(id(node), 1), event.start_mark)
        return node

    def _count(self, nodes: int, mark: Any) -> None:
        self.bounds.nodes += nodes
        if self.bounds.nodes > MAX_NODES:
            raise _problem(
                mark, f"the document would expand to more than {MAX_NODES:,} nodes (aliases)"
            )

    def compose_scalar_node(self, anchor: Any) -> yaml.ScalarNode:
        node = super().compose_scalar_node(anchor)
        _check_tag(node)
        try:
            _scalar_value(node)
        except (ValueError, TypeError, yaml.YAMLError) as exc:
            raise _problem(node.start_mark, f"{node.tag.removeprefix(_TAG)}: {exc}") from None
        return node

    def compose_sequence_node(self, anchor: Any) -> yaml.SequenceNode:
        start = self._next()
        node = yaml.SequenceNode(
            self._tag(start, yaml.SequenceNode), [], start.start_mark, None, start.flow_style
        )
        _check_tag(node)
        self._fill(node, anchor, lambda: node.value.append(self.compose_node(node, None)))
        return node

    def compose_mapping_node(self, anchor: Any) -> yaml.MappingNode:
        start = self._next()
        node = yaml.MappingNode(
            self._tag(start, yaml.MappingNode), [], start.start_mark, None, start.flow_style
        )
        _check_tag(node)
        seen: dict[Any, yaml.Node] = {}

        def item() -> None:
            key = self.compose_node(node, None)
            if not isinstance(key, yaml.ScalarNode):
                raise _problem(key.start_mark, "a key must be a plain value, not a list or mapping")
            self._note_duplicate(seen, key)
            node.value.append((key, self.compose_node(node, key)))

        self._fill(node, anchor, item)
        return node

    def _tag(self, event: Any, kind: type[yaml.Node]) -> str:
        tag = event.tag
        if tag in {None, "!"}:
            tag = self.resolve(kind, None, event.implicit)  # type: ignore[no-untyped-call]
        return str(tag)

    def _fill(self, node: yaml.CollectionNode, anchor: Any, add: Callable[[], None]) -> None:
        if anchor is not None:
            self.anchors[anchor] = node
        self.bounds.open.add(id(node))
        end = (SequenceEndEvent, MappingEndEvent)
        while not self.check_event(*end):
            add()
        self.bounds.open.discard(id(node))
        node.end_mark = self._next().end_mark

    def _note_duplicate(self, seen: dict[Any, yaml.Node], key: yaml.ScalarNode) -> None:
        value = _scalar_value(key)
        try:
            first = seen.setdefault(value, key)
        except TypeError:
            return
        if first is not key:
            where = f"line {first.start_mark.line + 1}, column {first.start_mark.column + 1}"
            self.duplicates.append(
                _problem(key.start_mark, f"duplicate key {value!r} (first at {where})")
            )


# The core tags a node of each kind may carry (``!!str [a]`` is no string).
_TAGS_OF = {
    "scalar": CORE_TAGS - {_TAG + "seq", _TAG + "map"},
    "sequence": frozenset({_TAG + "seq"}),
    "mapping": frozenset({_TAG + "map"}),
}
_KIND_NAMES = {"scalar": "a plain value", "sequence": "a list", "mapping": "a mapping"}


def _check_tag(node: yaml.Node) -> None:
    if node.tag not in CORE_TAGS:
        raise _problem(
            node.start_mark,
            f"the tag {_shown(node.tag)} is not allowed "
            "(only YAML's core types: strings, numbers, true/false, null, lists, mappings)",
        )
    kind = node.id  # type: ignore[attr-defined]  # scalar, sequence or mapping (PyYAML's)
    if node.tag not in _TAGS_OF[kind]:
        raise _problem(
            node.start_mark, f"the tag {_shown(node.tag)} does not fit {_KIND_NAMES[kind]}"
        )


def _shown(tag: str) -> str:
    return tag.replace(_TAG, "!!")


def _problem(mark: Any, message: str) -> YamlProblem:
    return YamlProblem(line=mark.line + 1, column=mark.column + 1, message=message)
