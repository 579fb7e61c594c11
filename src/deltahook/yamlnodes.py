"""Composed YAML as deltahook holds it: located nodes that need no PyYAML to read.

``yamlsafe`` composes with PyYAML (``yamlcore``) and hands out these nodes instead of PyYAML's:
the same attributes (``tag``, ``value``, ``style`` or ``flow_style``, ``start_mark`` and
``end_mark`` with ``line`` and ``column``, 0-based, and the class's ``id``), but they come back
from the disk cache, and construct into plain values, without importing PyYAML: a command
whose rule files were composed before never loads it (about 20 ms of its start-up).

The ``is_*`` tests and ``construct`` take PyYAML's own nodes as well (they go by ``id``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, TypeGuard

TAG = "tag:yaml.org,2002:"
MAX_DIGITS = 100

INT = re.compile(r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+")
FLOAT = re.compile(
    r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)"
)


@dataclass(kw_only=True)  # not frozen: a ``with`` block sets its __traceback__
class YamlProblem(Exception):
    """A document that cannot be read: where (1-based) and why, in one line."""

    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.line}:{self.column}: {self.message}"


class Mark:
    """Where a node starts or ends (0-based ``line`` and ``column``); no text is kept."""

    __slots__ = ("column", "index", "line", "name")
    buffer: ClassVar[None] = None  # as a PyYAML mark without its document's text
    pointer: ClassVar[int] = 0

    def __init__(self, name: str, index: int, line: int, column: int) -> None:
        self.name, self.index, self.line, self.column = name, index, line, column

    def __str__(self) -> str:
        return f'  in "{self.name}", line {self.line + 1}, column {self.column + 1}'


class Node:
    """A composed node: its resolved ``tag``, its ``value`` and where it starts and ends."""

    __slots__ = ("end_mark", "start_mark", "tag", "value")
    id: ClassVar[str] = "node"

    def __init__(self, tag: str, value: Any, start_mark: Mark, end_mark: Mark) -> None:
        self.tag, self.value = tag, value
        self.start_mark, self.end_mark = start_mark, end_mark


class ScalarNode(Node):
    __slots__ = ("style",)
    id = "scalar"
    value: str

    def __init__(
        self, tag: str, value: str, start_mark: Mark, end_mark: Mark, style: str | None = None
    ) -> None:
        super().__init__(tag, value, start_mark, end_mark)
        self.style = style


class CollectionNode(Node):
    __slots__ = ("flow_style",)

    def __init__(
        self, tag: str, value: Any, start_mark: Mark, end_mark: Mark, flow_style: bool | None
    ) -> None:
        super().__init__(tag, value, start_mark, end_mark)
        self.flow_style = flow_style


class SequenceNode(CollectionNode):
    __slots__ = ()
    id = "sequence"
    value: list[Node]


class MappingNode(CollectionNode):
    __slots__ = ()
    id = "mapping"
    value: list[tuple[Node, Node]]


def is_scalar(node: object) -> TypeGuard[ScalarNode]:
    return getattr(node, "id", None) == "scalar"


def is_sequence(node: object) -> TypeGuard[SequenceNode]:
    return getattr(node, "id", None) == "sequence"


def is_mapping(node: object) -> TypeGuard[MappingNode]:
    return getattr(node, "id", None) == "mapping"


def from_pyyaml(root: Any) -> Node:
    """PyYAML's composed tree as these nodes (a node reached twice, by an alias, stays one)."""
    made: dict[int, Node] = {}
    marks: dict[int, Mark] = {}

    def mark(found: Any) -> Mark:
        kept = marks.get(id(found))
        if kept is None:
            kept = marks[id(found)] = Mark(found.name, found.index, found.line, found.column)
        return kept

    def convert(node: Any) -> Node:
        if id(node) in made:
            return made[id(node)]
        start, end = mark(node.start_mark), mark(node.end_mark)
        if node.id == "scalar":
            made[id(node)] = ScalarNode(node.tag, node.value, start, end, node.style)
            return made[id(node)]
        if node.id == "sequence":
            items = SequenceNode(node.tag, [], start, end, node.flow_style)
            made[id(node)] = items
            items.value.extend(convert(item) for item in node.value)
            return items
        pairs = MappingNode(node.tag, [], start, end, node.flow_style)
        made[id(node)] = pairs
        pairs.value.extend((convert(key), convert(value)) for key, value in node.value)
        return pairs

    return convert(root)


def construct(node: Any) -> Any:
    """The plain value of a composed node, by YAML 1.2's core schema (lists, dicts, str, int,
    float, bool, None), as ``yamlcore.CoreConstructor`` makes it. The composer let through only
    core tags that fit their node and plain keys, so nothing else is met here."""
    made: dict[int, Any] = {}

    def build(each: Any) -> Any:
        if id(each) in made:
            return made[id(each)]
        tag, kind = each.tag, each.id
        if kind == "scalar":
            value = made[id(each)] = scalar_value(tag, each.value)
        elif kind == "sequence" and tag == TAG + "seq":
            value = made[id(each)] = []
            value.extend(build(item) for item in each.value)
        elif kind == "mapping" and tag == TAG + "map":
            value = made[id(each)] = {}
            for key, item in each.value:
                value[build(key)] = build(item)
        else:
            raise ValueError(f"not a node of YAML's core schema: {kind} {tag}")
        return value

    return build(node)


def scalar_value(tag: str, text: str) -> Any:
    """The value of a scalar with a core tag (``KeyError`` for any other tag); ``ValueError``
    when its text is not one of the tag's (``!!int x``)."""
    return _SCALARS[tag](text)


def core_bool(text: str) -> bool:
    if text.lower() not in {"true", "false"}:
        raise ValueError(f"{text!r} is not true or false")
    return text.lower() == "true"


def core_int(text: str) -> int:
    if not INT.fullmatch(text):
        raise ValueError(f"{text!r} is not an integer")
    if len(text.lstrip("+-")) > MAX_DIGITS:
        raise ValueError(f"an integer of {len(text)} digits is too long (at most {MAX_DIGITS})")
    if text.startswith(("0o", "0x")):
        return int(text[2:], 8 if text[1] == "o" else 16)
    return int(text)


def core_float(text: str) -> float:
    if not FLOAT.fullmatch(text) and not INT.fullmatch(text):
        raise ValueError(f"{text!r} is not a number")
    lowered = text.lower()
    if lowered.lstrip("+-") in {".inf", ".nan"}:
        return float(lowered.replace(".", ""))
    return float(text) if "0x" not in text and "0o" not in text else float(int(text, 0))


_SCALARS: dict[str, Callable[[str], Any]] = {
    TAG + "null": lambda _text: None,
    TAG + "bool": core_bool,
    TAG + "int": core_int,
    TAG + "float": core_float,
    TAG + "str": str,
}
