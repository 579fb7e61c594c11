"""Regular expressions of ``matches`` filters, compiled within bounds a rule file cannot pass.

Python's ``re`` parser recurses once per nested group and refuses repeat counts past 2**32
with ``OverflowError``; a hostile pattern would end ``rules check`` with a traceback. The
pattern is measured first (length, group nesting, repeat counts), then compiled.
"""

from __future__ import annotations

import re

MAX_LENGTH = 1000
MAX_NESTING = 32
MAX_REPEAT = 1000
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
        return re.compile(pattern)
    except (re.error, OverflowError, RecursionError) as exc:
        raise ValueError(f"invalid regular expression: {exc}") from None


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
