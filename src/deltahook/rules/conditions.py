"""Filters: declarative conditions compiled once, at load time, into plain closures.

    filter:
      new.PriceListCode: {in: [SE, NO]}     # a reference and its operators (all must hold)
      new.IsActive: true                    # a bare value means eq
      new.PriceSale: {lt: {ref: old.PriceSale}}   # another value (see ``rules.operands``)
      parent.StatusId: 1                    # the parent entity, as stored
      any:
        - new.PriceSale: {gt: 0}
        - not: {old.PriceSale: {exists: true}}

Operators: eq, ne, in, not_in, lt, le, gt, ge, exists, matches (a regular expression, searched).
Several keys in one mapping must all hold; ``all``, ``any`` and ``not`` combine. Equality is
JSON equality: ``5`` equals ``5.0`` but ``true`` is not ``1``; a field that is absent equals
nothing (so ``ne`` holds) and exists not. Comparisons between a number and a string are false.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from deltahook.changes.model import MISSING
from deltahook.rules.context import Ctx, Getter, parse_ref, resolve
from deltahook.rules.operands import (
    COMPARISONS,
    FILTER_SCOPES,
    Pred,
    Side,
    compare_with,
    compile_ref,
    equals,
    member_of,
    negate,
)
from deltahook.rules.patterns import compile_pattern
from deltahook.rules.source import Node, Reader, value_of
from deltahook.rules.tables import TableInfo, Types, type_of
from deltahook.yamlnodes import is_mapping

Test = Callable[[Ctx], bool]

OPERATORS = ("eq", "ne", "in", "not_in", "lt", "le", "gt", "ge", "exists", "matches")
COMBINATORS = ("all", "any", "not")
_SCALARS = frozenset({"string", "number", "integer", "boolean", "null"})


@dataclass(frozen=True, slots=True)
class Cond:
    """A compiled condition: its test, a readable form, and its parts for tracing."""

    text: str
    test: Test
    op: str = "leaf"
    parts: tuple[Cond, ...] = ()
    getters: tuple[tuple[str, Getter], ...] = ()


def trace(cond: Cond, ctx: Ctx) -> list[dict[str, Any]]:
    """The conditions that said no, each with the values it saw (empty when ``cond`` holds)."""
    if cond.test(ctx):
        return []
    if cond.op in {"all", "any"}:
        return [item for part in cond.parts for item in trace(part, ctx)]
    return [{"condition": cond.text, "seen": seen(cond, ctx)}]


def seen(cond: Cond, ctx: Ctx) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for ref, getter in _all_getters(cond):
        value = getter(ctx)
        values[ref] = "(absent)" if value is MISSING else value
    return values


def _all_getters(cond: Cond) -> list[tuple[str, Getter]]:
    return [*cond.getters, *(g for part in cond.parts for g in _all_getters(part))]


@dataclass(slots=True)
class Compiler:
    """Compiles filter nodes for rows of one table, recording problems in ``reader``."""

    reader: Reader
    table: TableInfo
    constants: Mapping[str, Any]
    setting: Mapping[str, str]
    needs_parent: bool = False  # a condition reads parent.X: the parent must be loaded first

    def compile(self, node: Node) -> Cond | None:
        entries = self.reader.mapping(node, "a condition")
        if entries is None:
            return None
        if not entries:
            self.reader.error(node, "a condition must not be empty")
            return None
        parts: list[Cond] = []
        failed = False
        for name, (key_node, value_node) in entries.items():
            part = self._entry(name, key_node, value_node)
            failed = failed or part is None
            if part is not None:
                parts.append(part)
        if failed:
            return None
        return parts[0] if len(parts) == 1 else _all(parts)

    def _entry(self, name: str, key_node: Node, value_node: Node) -> Cond | None:
        if name in {"all", "any"}:
            items = self.reader.sequence(value_node, f"{name!r}")
            if items is None:
                return None
            if not items:
                self.reader.error(value_node, f"{name!r} needs at least one condition")
                return None
            parts = [self.compile(item) for item in items]
            if any(p is None for p in parts):
                return None
            done = [p for p in parts if p is not None]
            return _all(done) if name == "all" else _any(done)
        if name == "not":
            inner = self.compile(value_node)
            return None if inner is None else _not(inner)
        return self._leaf(name, key_node, value_node)

    def _leaf(self, name: str, key_node: Node, value_node: Node) -> Cond | None:
        found = self._reference(name, key_node)
        if found is None:
            return None
        getter, types = found
        if not is_mapping(value_node):  # a bare value: eq
            ok, value = self.reader.scalar(value_node, f"the value of {name}")
            pred = self._operator("eq", value_node, types, name) if ok else None
            return None if pred is None else _leaf(f"{name} eq {value!r}", getter, pred, name)
        ops = self.reader.mapping(value_node, f"the operators of {name}", allowed=OPERATORS)
        if not ops:
            if ops is not None and not value_node.value:
                self.reader.error(value_node, f"{name} needs an operator")
            return None
        left = Side(ref=name, getter=getter, types=types)
        made = [self._operation(op, node, left) for op, (_key, node) in ops.items()]
        leaves = [leaf for leaf in made if leaf is not None]
        if len(leaves) < len(made):
            return None
        return leaves[0] if len(leaves) == 1 else _all(leaves)

    def _operation(self, op: str, node: Node, left: Side) -> Cond | None:
        """``left op operand``: a literal, or ``{ref: scope.Field}`` for another value."""
        if is_mapping(node) and op in COMPARISONS:
            compared = compile_ref(
                self.reader,
                node,
                op=op,
                left=left,
                table=self.table,
                constants=self.constants,
                setting=self.setting,
            )
            if compared is None:
                return None
            self.needs_parent |= any(s.ref.startswith("parent.") for s in compared.sides)
            getters = tuple((side.ref, side.getter) for side in compared.sides)
            return Cond(compared.text, compared.test, getters=getters)
        pred = self._operator(op, node, left.types, left.ref)
        if pred is None:
            return None
        return _leaf(f"{left.ref} {op} {value_of(node)!r}", left.getter, pred, left.ref)

    def _reference(self, name: str, key_node: Node) -> tuple[Getter, Types] | None:
        ref = parse_ref(name)
        if ref is None:
            self.reader.error(
                key_node,
                f"{name!r} is neither all/any/not nor a reference like new.Field or old.Field",
            )
            return None
        found = resolve(
            ref,
            self.table,
            constants=self.constants,
            setting=self.setting,
            allow=FILTER_SCOPES,
        )
        if isinstance(found, str):
            self.reader.error(key_node, found)
            return None
        self.needs_parent |= ref.scope == "parent"
        return found

    def _operator(self, op: str, node: Node, types: Types, name: str) -> Pred | None:
        if op == "exists":
            flag = self.reader.boolean(node, f"{name} exists")
            if flag is None:
                return None
            return (lambda v: v is not MISSING) if flag else (lambda v: v is MISSING)
        if op == "matches":
            return self._matches(node, types, name)
        if op in {"in", "not_in"}:
            return self._membership(op, node, types, name)
        return self._scalar_operator(op, node, types, name)

    def _scalar_operator(self, op: str, node: Node, types: Types, name: str) -> Pred | None:
        ok, operand = self.reader.scalar(node, f"the operand of {name} {op}")
        if not ok or not self._admits(node, operand, types, name):
            return None
        if op in {"eq", "ne"}:
            return equals(operand) if op == "eq" else negate(equals(operand))
        if isinstance(operand, bool) or not isinstance(operand, int | float | str):
            self.reader.error(node, f"{name} {op} needs a number or a string, not {operand!r}")
            return None
        return compare_with(op, operand)

    def _matches(self, node: Node, types: Types, name: str) -> Pred | None:
        pattern = self.reader.string(node, f"{name} matches")
        if pattern is None:
            return None
        if "string" not in types:
            self.reader.error(node, f"{name} is not a text field; 'matches' needs one")
            return None
        try:
            regex = compile_pattern(pattern)
        except ValueError as exc:
            self.reader.error(node, f"{name} matches: {exc}")
            return None
        return lambda v: isinstance(v, str) and regex.search(v) is not None

    def _membership(self, op: str, node: Node, types: Types, name: str) -> Pred | None:
        items = self.reader.sequence(node, f"{name} {op}")
        if items is None:
            return None
        values = []
        for item in items:
            ok, value = self.reader.scalar(item, f"each value of {name} {op}")
            if not ok or not self._admits(item, value, types, name):
                return None
            values.append(value)
        pred = member_of(values)
        return pred if op == "in" else negate(pred)

    def _admits(self, node: Node, value: Any, types: Types, name: str) -> bool:
        kind = type_of(value)
        if kind == "null" or kind in types or (kind == "integer" and "number" in types):
            return True
        admitted = " or ".join(sorted(types & _SCALARS)) or "no simple values"
        self.reader.error(node, f"{name} holds {admitted}; {value!r} can never match it")
        return False


def _leaf(text: str, getter: Getter, pred: Pred, ref: str) -> Cond:
    return Cond(text, lambda c: pred(getter(c)), getters=((ref, getter),))


def _all(parts: list[Cond]) -> Cond:
    tests = tuple(p.test for p in parts)
    return Cond(
        " and ".join(p.text for p in parts),
        lambda c: all(t(c) for t in tests),
        op="all",
        parts=tuple(parts),
    )


def _any(parts: list[Cond]) -> Cond:
    tests = tuple(p.test for p in parts)
    return Cond(
        "(" + " or ".join(p.text for p in parts) + ")",
        lambda c: any(t(c) for t in tests),
        op="any",
        parts=tuple(parts),
    )


def _not(inner: Cond) -> Cond:
    test = inner.test
    return Cond(f"not ({inner.text})", lambda c: not test(c), op="not", parts=(inner,))
