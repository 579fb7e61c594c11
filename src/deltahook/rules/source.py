"""Reading YAML with a location on every node, and collecting problems instead of stopping.

Composing with ``deltahook.yamlsafe`` (YAML 1.2 core types, bounded) keeps the start mark
(line and column) of every node, so each problem found anywhere in a rule file can point at
the exact spot. A ``Reader`` wraps one file: its helpers
return ``None`` after recording a problem, and the loader carries on to find the next one.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deltahook import yamlnodes
from deltahook.errors import SourceProblem
from deltahook.yamlnodes import is_mapping, is_scalar, is_sequence
from deltahook.yamlsafe import YamlProblem, compose, construct, decode

Node = yamlnodes.Node


@dataclass(slots=True)
class Reader:
    """One source file being read: its path and the problems found so far."""

    path: str
    problems: list[SourceProblem] = field(default_factory=list)

    def error(self, node: Node | None, message: str) -> None:
        line, column = (node.start_mark.line + 1, node.start_mark.column + 1) if node else (1, 1)
        self.problems.append(
            SourceProblem(path=self.path, line=line, column=column, message=message)
        )

    def read(self, file: Path, what: str) -> str | None:
        """The file's text, or None (with a problem at the bad byte's place) when unreadable."""
        try:
            data = file.read_bytes()
        except OSError as exc:
            self.error(None, f"cannot read the {what}: {exc.strerror}")
            return None
        try:
            return decode(data)
        except YamlProblem as exc:
            self.problems.append(
                SourceProblem(path=self.path, line=exc.line, column=exc.column, message=exc.message)
            )
            return None

    def compose(self, text: str) -> Node | None:
        """The document's root node, or None (with a problem) when it cannot be read."""
        try:
            composed = compose(text, keep=True)
        except YamlProblem as exc:
            self.problems.append(
                SourceProblem(path=self.path, line=exc.line, column=exc.column, message=exc.message)
            )
            return None
        for dup in composed.duplicates:
            self.problems.append(
                SourceProblem(path=self.path, line=dup.line, column=dup.column, message=dup.message)
            )
        return composed.root

    def mapping(
        self,
        node: Node,
        what: str,
        *,
        allowed: Iterable[str] | None = None,
        required: Iterable[str] = (),
    ) -> dict[str, tuple[Node, Node]] | None:
        """``{key: (key node, value node)}`` of a mapping node, checking its keys."""
        if not is_mapping(node):
            self.error(node, f"{what} must be a mapping, not {describe(node)}")
            return None
        out: dict[str, tuple[Node, Node]] = {}
        known = sorted(allowed) if allowed is not None else None
        for key_node, value_node in node.value:
            key = key_node.value if is_scalar(key_node) else None
            if not isinstance(key, str):
                self.error(key_node, f"{what}: keys must be plain names")
                continue
            if key in out:  # reported when the document was composed
                continue
            if known is not None and key not in known:
                self.error(key_node, f"{what}: unknown key {key!r}{suggest(key, known)}")
                continue
            out[key] = (key_node, value_node)
        for name in required:
            if name not in out:
                self.error(node, f"{what}: missing required key {name!r}")
        return out

    def sequence(self, node: Node, what: str) -> list[Node] | None:
        if not is_sequence(node):
            self.error(node, f"{what} must be a list, not {describe(node)}")
            return None
        return list(node.value)

    def scalar(self, node: Node, what: str) -> tuple[bool, Any]:
        """``(True, value)`` of a scalar node (typed as YAML says), or ``(False, None)``."""
        if not is_scalar(node):
            self.error(node, f"{what} must be a single value, not {describe(node)}")
            return False, None
        value = value_of(node)
        if isinstance(value, float) and not math.isfinite(value):
            self.error(node, f"{what} must be a finite number, not {node.value} (feeds hold none)")
            return False, None
        return True, value

    def string(self, node: Node, what: str) -> str | None:
        ok, value = self.scalar(node, what)
        if not ok:
            return None
        if not isinstance(value, str) or not value:
            self.error(node, f"{what} must be a non-empty string, not {value!r}")
            return None
        return value

    def number(self, node: Node, what: str, *, minimum: float | None = None) -> float | None:
        ok, value = self.scalar(node, what)
        if not ok:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.error(node, f"{what} must be a number, not {value!r}")
            return None
        if minimum is not None and value < minimum:
            self.error(node, f"{what} must be at least {minimum:g}, not {value!r}")
            return None
        return value

    def boolean(self, node: Node, what: str) -> bool | None:
        ok, value = self.scalar(node, what)
        if ok and not isinstance(value, bool):
            self.error(node, f"{what} must be true or false, not {value!r}")
            return None
        return value if ok else None

    def strings(self, node: Node, what: str) -> list[tuple[Node, str]] | None:
        """A list of strings (a single string counts as a list of one)."""
        if is_scalar(node):
            text = self.string(node, what)
            return None if text is None else [(node, text)]
        items = self.sequence(node, what)
        if items is None:
            return None
        out = []
        for item in items:
            text = self.string(item, f"each item of {what}")
            if text is not None:
                out.append((item, text))
        return out


def value_of(node: Node) -> Any:
    """The plain Python value of a node, typed by YAML 1.2's core schema."""
    return construct(node)


EXCERPT = 40  # characters of a long text quoted in a problem: enough to recognise it


def describe(node: Node) -> str:
    """What a node is, for a problem's message; a long text (a file that is not YAML rules,
    read as one plain scalar) is quoted by its beginning, never whole."""
    if is_mapping(node):
        return "a mapping"
    if is_sequence(node):
        return "a list"
    value = value_of(node)
    if isinstance(value, str) and len(value) > EXCERPT:
        return f"a text of {len(value):,} characters beginning {value[:EXCERPT]!r}"
    return f"the value {value!r}"


def suggest(name: str, known: Iterable[str]) -> str:
    """`` (did you mean X?)`` for a near miss, else a list of what is known when short."""
    import difflib  # only to word a mistake: a rule set that loads never needs it

    options = sorted(known)
    close = difflib.get_close_matches(name, options, n=1, cutoff=0.6)
    if close:
        return f" (did you mean {close[0]!r}?)"
    if len(options) <= 12:
        return f" (expected one of: {', '.join(options)})"
    return ""


def yaml_files(directory: Path) -> Iterator[Path]:
    """The rule files of a folder (``*.yaml`` and ``*.yml``, not in subfolders), sorted."""
    yield from sorted(p for p in directory.iterdir() if p.suffix in {".yaml", ".yml"})
