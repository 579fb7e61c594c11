"""Numbers as written: rules do their arithmetic on the decimals a feed or rule file spells.

Feeds are parsed to ``float`` (orjson, the CSV reader) and so are decimals in rule files
(YAML), so ``10.00 -> 9.90`` moves by 0.0999999...% of a percent too little in binary. The
shortest ``repr`` of a float is the decimal that was written (for any decimal of up to 15
significant digits), so each value becomes that ``Decimal`` before any sum, difference or
product, and the arithmetic runs in a context wide enough to stay exact.
"""

from __future__ import annotations

import math
from decimal import Context, Decimal
from typing import Any, TypeGuard

# Wide enough that the sum or difference of any two doubles (about 630 digits between the
# largest and the smallest) and the product of two written decimals is exact, not rounded.
EXACT = Context(prec=1000)


def is_number(value: Any) -> TypeGuard[int | float]:
    """A JSON number: an int or a finite float, but not a boolean (a CSV cell may say nan)."""
    if isinstance(value, float):
        return math.isfinite(value)
    return type(value) is int


def exact(value: float) -> Decimal:
    """The decimal a number was written as: the shortest repr of a float, an int as it is."""
    return Decimal(value) if isinstance(value, int) else Decimal(repr(value))


def moved(old: float, new: float) -> Decimal:
    """How far a value moved, ``|new - old|``, exactly."""
    return EXACT.abs(EXACT.subtract(exact(new), exact(old)))


def shifted(limit: float, by: float) -> Decimal:
    """``limit + by``, exactly (``by`` may be negative)."""
    return EXACT.add(exact(limit), exact(by))
