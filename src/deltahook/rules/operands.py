"""Filter operands: a literal (``{gt: 0}``) or another value (``{le: {ref: new.MinimumValue}}``).

A literal operand becomes a predicate on the left-hand value (``equals``, ``member_of``,
``compare_with``).

A bare string is always a literal (``{eq: new.X}`` compares with the text ``"new.X"``), so a
reference on the right-hand side is written as a one-key mapping ``{ref: scope.Field}``. It
works with ``eq``, ``ne``, ``lt``, ``le``, ``gt`` and ``ge``; the scopes are those of the left
side (``new``, ``old``, ``row``, ``entity``, ``parent``) and ``const``. Both sides are checked
when the rules load: the reference must exist, and the two sides must be able to hold values
that compare (numbers with numbers, text with text). At run time an absent value equals
nothing, and ``null`` or a value of another type is neither less nor greater than anything.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from deltahook.changes.model import MISSING
from deltahook.rules.context import Ctx, Getter, parse_ref, resolve
from deltahook.rules.numbers import is_number
from deltahook.rules.source import Node, Reader
from deltahook.rules.tables import TableInfo, Types

Pred = Callable[[Any], bool]
COMPARISONS = ("eq", "ne", "lt", "le", "gt", "ge")
FILTER_SCOPES = frozenset({"new", "old", "row", "entity", "parent"})
_RIGHT_SCOPES = FILTER_SCOPES | {"const"}
_ORDER: Mapping[str, Callable[[Any, Any], bool]] = {
    "lt": operator.lt,
    "le": operator.le,
    "gt": operator.gt,
    "ge": operator.ge,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Side:
    """One side of a comparison: its reference as written, getter and possible JSON types."""

    ref: str
    getter: Getter
    types: Types


@dataclass(frozen=True, slots=True, kw_only=True)
class Compared:
    """A compiled comparison of two values: its text, test, and both sides for the trace."""

    text: str
    test: Callable[[Ctx], bool]
    sides: tuple[Side, Side]


def same(a: Any, b: Any) -> bool:
    """JSON equality: numbers by value, booleans only equal booleans."""
    if (type(a) is bool) != (type(b) is bool):
        return False
    return bool(a == b)


def compile_ref(
    reader: Reader,
    node: Node,
    *,
    op: str,
    left: Side,
    table: TableInfo,
    constants: Mapping[str, Any],
    setting: Mapping[str, str],
) -> Compared | None:
    """``left op {ref: ...}`` compiled, or None after recording what is wrong."""
    what = f"the operand of {left.ref} {op}"
    before = len(reader.problems)
    entries = reader.mapping(node, what, allowed=("ref",), required=("ref",))
    if entries is None or "ref" not in entries or len(reader.problems) > before:
        return None
    ref_node = entries["ref"][1]
    text = reader.string(ref_node, f"{what}: ref")
    ref = None if text is None else parse_ref(text)
    if text is not None and ref is None:
        reader.error(ref_node, f"ref {text!r} is not a reference like new.Field or parent.Field")
    if ref is None or text is None:
        return None
    found = resolve(ref, table, constants=constants, setting=setting, allow=_RIGHT_SCOPES)
    if isinstance(found, str):
        reader.error(ref_node, found)
        return None
    right = Side(ref=text, getter=found[0], types=found[1])
    if not _comparable(op, left.types, right.types):
        verb = "be equal" if op in {"eq", "ne"} else "be compared"
        reader.error(
            ref_node,
            f"{left.ref} holds {_names(left.types)}; {right.ref} holds {_names(right.types)}: "
            f"they can never {verb}",
        )
        return None
    return Compared(
        text=f"{left.ref} {op} {text}", test=_test(op, left, right), sides=(left, right)
    )


def _test(op: str, left: Side, right: Side) -> Callable[[Ctx], bool]:
    a, b = left.getter, right.getter
    if op in {"eq", "ne"}:
        want = op == "eq"

        def equal(c: Ctx) -> bool:
            x, y = a(c), b(c)
            return (x is not MISSING and y is not MISSING and same(x, y)) is want

        return equal
    order = _ORDER[op]

    def compare(c: Ctx) -> bool:
        x, y = a(c), b(c)
        if is_number(x) and is_number(y):
            return order(x, y)
        return isinstance(x, str) and isinstance(y, str) and order(x, y)

    return compare


def _numeric(types: Types) -> bool:
    return bool(types & {"number", "integer"})


def _comparable(op: str, left: Types, right: Types) -> bool:
    """Whether values of these JSON types can ever make ``op`` hold."""
    if _numeric(left) and _numeric(right):
        return True
    if "string" in left and "string" in right:
        return True
    if op in {"eq", "ne"}:
        return bool(left & right)
    return False


def _names(types: Types) -> str:
    return " or ".join(sorted(types)) or "no simple values"


def negate(pred: Pred) -> Pred:
    """Not ``pred``."""
    return lambda v: not pred(v)


def equals(operand: Any) -> Pred:
    """JSON equality with a literal; an absent value equals nothing."""
    return lambda v: v is not MISSING and same(v, operand)


def member_of(values: list[Any]) -> Pred:
    """Membership in a list of literals (booleans only match booleans)."""
    flags = frozenset(v for v in values if type(v) is bool)
    others = frozenset(v for v in values if type(v) is not bool)

    def member(v: Any) -> bool:
        if v is MISSING:
            return False
        try:
            return v in flags if type(v) is bool else v in others
        except TypeError:  # an object or list value: never a member
            return False

    return member


def compare_with(op: str, operand: float | str) -> Pred:
    """``lt``/``le``/``gt``/``ge`` against a literal number or text (others never hold)."""
    numeric = not isinstance(operand, str)

    def comparable(v: Any) -> bool:
        if numeric:
            return type(v) is not bool and isinstance(v, int | float)
        return isinstance(v, str)

    checks: dict[str, Pred] = {
        "lt": lambda v: comparable(v) and v < operand,
        "le": lambda v: comparable(v) and v <= operand,
        "gt": lambda v: comparable(v) and v > operand,
        "ge": lambda v: comparable(v) and v >= operand,
    }
    return checks[op]
