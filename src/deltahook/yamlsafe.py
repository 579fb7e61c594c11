"""Reading YAML the one way deltahook reads it: YAML 1.2 core types, bounded, located.

Rule files, rule tests and ``deltahook.yaml`` are composed here into nodes that keep their
line and column. The loader is PyYAML's pure-Python parser with three changes:

- **YAML 1.2 core types.** Only ``true``/``false`` are booleans and ``null``/``~`` null;
  ``NO``, ``SE``, ``on``, ``yes`` and dates stay strings; ``010`` is ten. No merge keys.
- **Bounds.** A document may nest at most ``MAX_DEPTH`` deep and expand (aliases counted at
  their full size) to at most ``MAX_NODES`` nodes; an alias inside its own anchor, a tag
  outside the core schema (``!!python/...``) and an integer longer than ``MAX_DIGITS`` digits
  are refused. A billion-laughs file stops at the alias that would pass the bound.
- **Every mistake located.** Each failure is a ``YamlProblem`` with line, column and one line
  of text; a key given twice in a mapping is reported (``duplicates``) without stopping.
"""

from __future__ import annotations

import io
import pickle
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.events import AliasEvent, MappingEndEvent, SequenceEndEvent
from yaml.parser import Parser
from yaml.reader import Reader as StreamReader
from yaml.resolver import BaseResolver
from yaml.scanner import Scanner

from deltahook import diskcache

MAX_DEPTH = 64
MAX_NODES = 100_000
MAX_DIGITS = 100
_TAG = "tag:yaml.org,2002:"
CORE_TAGS = frozenset(_TAG + t for t in ("null", "bool", "int", "float", "str", "seq", "map"))

_INT = re.compile(r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+")
_FLOAT = re.compile(
    r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class YamlProblem(Exception):
    """A document that cannot be read: where (1-based) and why, in one line."""

    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.line}:{self.column}: {self.message}"


class CoreResolver(BaseResolver):
    """The YAML 1.2 core schema's implicit types (no YAML 1.1 yes/no/on/off, no dates)."""


CoreResolver.add_implicit_resolver(
    _TAG + "bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
CoreResolver.add_implicit_resolver(
    _TAG + "null", re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""]
)
CoreResolver.add_implicit_resolver(
    _TAG + "int", re.compile(rf"^(?:{_INT.pattern})$"), list("-+0123456789")
)
CoreResolver.add_implicit_resolver(
    _TAG + "float", re.compile(rf"^(?:{_FLOAT.pattern})$"), list("-+.0123456789")
)


class CoreConstructor(SafeConstructor):
    """Builds plain values from core-schema nodes, reading scalars by YAML 1.2's rules."""

    def construct_yaml_bool(self, node: yaml.Node) -> bool:
        text = str(self.construct_scalar(node))  # type: ignore[arg-type]
        if text.lower() not in {"true", "false"}:
            raise ValueError(f"{text!r} is not true or false")
        return text.lower() == "true"

    def construct_yaml_int(self, node: yaml.Node) -> int:
        text = str(self.construct_scalar(node))  # type: ignore[arg-type]
        if not _INT.fullmatch(text):
            raise ValueError(f"{text!r} is not an integer")
        if len(text.lstrip("+-")) > MAX_DIGITS:
            raise ValueError(f"an integer of {len(text)} digits is too long (at most {MAX_DIGITS})")
        if text.startswith(("0o", "0x")):
            return int(text[2:], 8 if text[1] == "o" else 16)
        return int(text)

    def construct_yaml_float(self, node: yaml.Node) -> float:
        text = str(self.construct_scalar(node))  # type: ignore[arg-type]
        if not _FLOAT.fullmatch(text) and not _INT.fullmatch(text):
            raise ValueError(f"{text!r} is not a number")
        lowered = text.lower()
        if lowered.lstrip("+-") in {".inf", ".nan"}:
            return float(lowered.replace(".", ""))
        return float(text) if "0x" not in text and "0o" not in text else float(int(text, 0))


for _name in ("bool", "int", "float"):
    CoreConstructor.add_constructor(
        _TAG + _name, getattr(CoreConstructor, f"construct_yaml_{_name}")
    )


def _scalar_value(node: yaml.ScalarNode) -> Any:
    return CoreConstructor().construct_object(node)


@dataclass(slots=True)
class _Bounds:  # what a document has expanded to so far
    nodes: int = 0
    depth: int = 0
    sizes: dict[int, int] = field(default_factory=dict)  # id(anchored node) -> expanded size
    open: set[int] = field(default_factory=set)  # ids of collections being composed


class _Loader(StreamReader, Scanner, Parser, Composer, CoreResolver):
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


def _check_tag(node: yaml.Node) -> None:
    if node.tag not in CORE_TAGS:
        raise _problem(
            node.start_mark,
            f"the tag {node.tag.replace(_TAG, '!!')} is not allowed "
            "(only YAML's core types: strings, numbers, true/false, null, lists, mappings)",
        )


def _problem(mark: Any, message: str) -> YamlProblem:
    return YamlProblem(line=mark.line + 1, column=mark.column + 1, message=message)


@dataclass(frozen=True, slots=True, kw_only=True)
class Composed:
    """A composed document: its root node (None when empty) and the duplicate keys found."""

    root: yaml.Node | None
    duplicates: tuple[YamlProblem, ...] = ()


def compose(text: str, *, keep: bool = False) -> Composed:
    """The document in ``text`` as located nodes; raises ``YamlProblem`` (one line, located).

    With ``keep`` (rule and rule-test files), a document composed before without a problem is
    read back from ``deltahook.diskcache`` (about a tenth of the CPU of composing it again); one
    with a problem is composed every time, so its problems are found as they always were. Its
    marks then keep only their place (line, column, index, name), not the document's text.
    Configuration files are never kept: they hold passwords and secrets, and are small.
    """
    entry = _entry(text) if keep else None
    kept = _read_kept(entry) if entry is not None else None
    if kept is not None:
        return kept
    composed = _compose(text)
    if entry is not None and not composed.duplicates:
        _forget_text(composed.root)
        diskcache.write(entry, pickle.dumps(composed, protocol=pickle.HIGHEST_PROTOCOL))
    return composed


def _forget_text(root: yaml.Node | None) -> None:
    """Drop the document's text from every mark (what errors read, line and column, stays)."""
    seen: set[int] = set()
    stack = [root] if root is not None else []
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        for mark in (node.start_mark, node.end_mark):
            if mark is not None:
                mark.buffer, mark.pointer = None, 0
        if isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
        elif isinstance(node, yaml.MappingNode):
            stack.extend(part for pair in node.value for part in pair)


def _entry(text: str) -> Path | None:
    """Where the composed ``text`` is kept: it depends on the text, this module and PyYAML."""
    source = _own_source()
    if source is None:
        return None
    version = yaml.__version__.encode()
    return diskcache.entry("yaml", [source, version, text.encode("utf-8", "surrogatepass")], "")


@cache
def _own_source() -> bytes | None:
    """This module's own source (what it composes depends on it), or None when unreadable."""
    try:
        return Path(__file__).read_bytes()
    except OSError:
        return None


class _KeptUnpickler(pickle.Unpickler):
    """Unpickles composed documents only: any other class in an entry makes it a miss."""

    ALLOWED: frozenset[tuple[str, str]] = frozenset(
        {
            (__name__, "Composed"),
            ("yaml.nodes", "ScalarNode"),
            ("yaml.nodes", "SequenceNode"),
            ("yaml.nodes", "MappingNode"),
            ("yaml.error", "Mark"),
        }
    )

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"{module}.{name} is not a composed document's part")
        return super().find_class(module, name)


def _read_kept(entry: Path) -> Composed | None:
    body = diskcache.read(entry)
    if body is None:
        return None
    try:
        kept = _KeptUnpickler(io.BytesIO(body)).load()
    except Exception:  # an entry that does not unpickle is as good as none
        return None
    ok = isinstance(kept, Composed) and (kept.root is None or isinstance(kept.root, yaml.Node))
    return kept if ok else None


def _compose(text: str) -> Composed:
    loader: _Loader | None = None
    try:
        loader = _Loader(text)
        root = loader.get_single_node()
        return Composed(root=root, duplicates=tuple(loader.duplicates))
    except yaml.reader.ReaderError as exc:
        line, column = _position(text, exc.position)
        raise YamlProblem(line=line, column=column, message=_unacceptable(exc)) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        why = " ".join(p for p in (exc.context, exc.problem) if p)
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise YamlProblem(line=line, column=column, message=f"YAML syntax: {why}") from None
    except (yaml.YAMLError, RecursionError, MemoryError) as exc:
        raise YamlProblem(line=1, column=1, message=f"YAML: {type(exc).__name__}") from None
    finally:
        if loader is not None:
            loader.dispose()


def _unacceptable(exc: yaml.reader.ReaderError) -> str:
    if isinstance(exc.character, int):
        return f"unacceptable character #x{exc.character:04x} (control characters are not allowed)"
    return "unacceptable character"


def decode(data: bytes) -> str:
    """UTF-8 text; raises ``YamlProblem`` at the line and column of the first bad byte."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = data[: exc.start].decode()
        line, column = _position(before, len(before))
        why = f"not UTF-8 text ({exc.reason} 0x{data[exc.start]:02x})"
        raise YamlProblem(line=line, column=column, message=why) from None


def _position(text: str, index: int) -> tuple[int, int]:
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def construct(node: yaml.Node) -> Any:
    """The plain Python value of a composed node (lists, dicts, str, int, float, bool, None)."""
    return CoreConstructor().construct_object(node, deep=True)
