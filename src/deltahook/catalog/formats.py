"""The string formats ``date`` and ``date-time``, checked one way by every validator.

The libraries disagree, and with themselves across versions: fastjsonschema checks both with
regular expressions whose ``\\d`` matches any script's digits (a year in full-width digits
passes), and before 2.22.3 it let impossible days by (``2026-02-30``, or ``2026-19-39`` in a
date-time); jsonschema checks ``date`` with the standard library and ``date-time`` only when an
extra package is installed. A record could so be stored with a date no receiver can read, or
be rejected by one validator while the other, asked why, found nothing wrong.

Here each format is one regular expression (RFC 3339: ASCII digits, days that exist, 29
February in leap years only, no year 0, a time zone on every date-time) given to fastjsonschema
(``formats=``), to the compiled record shapes, and to jsonschema's format checker (``checker``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from jsonschema import FormatChecker

_DAY = (
    r"(?!0000)(?:[0-9]{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"
    r"|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))"
    r"|(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)-02-29)"
)
_TIME = (
    r"(?:[01][0-9]|2[0-3]):[0-5][0-9]:(?:[0-5][0-9]|60)(?:\.[0-9]+)?"
    r"(?:[zZ]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
)
# As fastjsonschema writes its own: matched from the start, ``\Z`` (no line break after).
FORMATS: Final = {
    "date": rf"^{_DAY}\Z",
    "date-time": rf"^{_DAY}[tT]{_TIME}\Z",
}


def checker() -> FormatChecker:
    """jsonschema's draft-07 format checker with these formats in place of its own."""
    from jsonschema import Draft7Validator, FormatChecker

    found = FormatChecker(formats=())
    found.checkers = dict(Draft7Validator.FORMAT_CHECKER.checkers)
    for name, regex in FORMATS.items():
        found.checks(name)(_matches(re.compile(regex)))
    return found


def _matches(pattern: re.Pattern[str]) -> Callable[[Any], bool]:
    def conforms(instance: Any) -> bool:
        return not isinstance(instance, str) or pattern.match(instance) is not None

    return conforms
