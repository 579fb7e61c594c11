"""Regular expressions of ``matches`` filters, compiled within bounds a rule file cannot pass.

Python's ``re`` parser recurses once per nested group and refuses repeat counts past 2**32
with ``OverflowError``; a hostile pattern would end ``rules check`` with a traceback. The
pattern is measured first (length, group nesting, repeat counts), then compiled. An unbounded
repeat that holds another one (``(a+)+$``) is refused too: its backtracking is exponential on
a value such as ``aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!``, which would stall an ingest; a
possessive repeat (``a++``) or an atomic group (``(?>...)``) says the same without it.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

MAX_LENGTH = 1000
MAX_NESTING = 32
MAX_REPEAT = 1000
_sre: Any = importlib.import_module("re._parser")  # the parser re.compile uses (no stubs)
_REPEATS = (_sre.MAX_REPEAT, _sre.MIN_REPEAT)
_NO_BACKTRACKING = (_sre.ATOMIC_GROUP, _sre.POSSESSIVE_REPEAT)
_REPEAT = re.compile(r"(?<!\\)\{(\d*),?(\d*)\}")


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """The compiled pattern; raises ``ValueError`` saying why it is refused."""
    if len(pattern) > MAX_LENGTH:
        raise ValueError(f"the pattern is {len(pattern):,} characters long (at most {MAX_LENGTH})")
    if _nesting(pattern) > MAX_NESTING:
        raise ValueError(f"groups are nested more than {MAX_NESTING} deep")
    for match in _REPEAT.finditer(pattern):
        counts = [int(n) for n in match.groups() if n]
        if any(n > MAX_REPEAT for n in counts):
            raise ValueError(f"the repeat count {match.group(0)} is above {MAX_REPEAT}")
    try:
        parsed = _sre.parse(pattern)
        compiled = re.compile(pattern)
    except (re.error, OverflowError, RecursionError) as exc:
        raise ValueError(f"invalid regular expression: {exc}") from None
    if _nested_repeat(parsed, inside=False):
        raise ValueError(
            "a repeat inside a repeat (like (a+)+) can take exponential time on some values; "
            "make the inner one possessive (a++) or atomic ((?>a+))"
        )
    return compiled


def _nested_repeat(items: Any, *, inside: bool) -> bool:
    """Whether an unbounded, backtracking repeat holds another one, anywhere in ``items``."""
    for op, av in items:
        if op in _REPEATS:
            _low, high, sub = av
            unbounded = high == _sre.MAXREPEAT
            if (unbounded and inside) or _nested_repeat(sub, inside=inside or unbounded):
                return True
        elif op in _NO_BACKTRACKING:  # an outer repeat cannot backtrack into these
            if any(_nested_repeat(sub, inside=False) for sub in _parts(av)):
                return True
        elif any(_nested_repeat(sub, inside=inside) for sub in _parts(av)):
            return True
    return False


def _parts(av: Any) -> list[Any]:
    """The sub-patterns among an operation's arguments (groups, alternatives, look-arounds)."""
    if isinstance(av, _sre.SubPattern):
        return [av]
    if isinstance(av, tuple | list):
        return [part for item in av for part in _parts(item)]
    return []


def _nesting(pattern: str) -> int:
    """The deepest group nesting (escaped parentheses and character classes left out)."""
    depth = deepest = 0
    escaped = in_class = False
    for char in pattern:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif char == ")":
            depth = max(depth - 1, 0)
    return deepest
