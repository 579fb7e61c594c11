"""Thresholds compare the decimals written in the feed exactly, never their binary float sums."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from deltahook.rules.model import Threshold


def parsed(text: str) -> float | int:
    """A number as the feed reader gives it (orjson: a float for a decimal, an int otherwise)."""
    value = orjson.loads(text)
    assert isinstance(value, float | int)
    return value


@pytest.mark.parametrize(
    ("threshold", "old", "new", "enough"),
    [
        (Threshold(field="P", pct=1), "10.00", "9.90", True),  # exactly 1%: 0.99999...% in floats
        (Threshold(field="P", abs=0.2), "0.3", "0.1", True),  # exactly 0.2: 0.19999... in floats
        (Threshold(field="P", abs=0.1), "0.3", "0.2", True),  # 0.09999... in floats
        (Threshold(field="P", pct=10), "0.3", "0.33", True),  # 9.99999...% in floats
        (Threshold(field="P", pct=1), "10.00", "9.91", False),  # 0.9%: less than 1%
        (Threshold(field="P", abs=0.2), "0.3", "0.11", False),  # 0.19: less than 0.2
    ],
)
def test_a_threshold_counts_the_written_decimals(
    threshold: Threshold, old: str, new: str, enough: bool
) -> None:
    """A move of exactly the amount counts, whatever binary floating point makes of it."""
    assert threshold.enough(parsed(old), parsed(new)) is enough


DECIMALS = st.decimals(
    min_value=-10_000, max_value=10_000, places=4, allow_nan=False, allow_infinity=False
)
AMOUNTS = st.decimals(min_value=0, max_value=200, places=4, allow_nan=False, allow_infinity=False)
Move = tuple[Decimal, Decimal, Decimal | None, Decimal | None]


@st.composite
def moves(draw: st.DrawFn) -> Move:
    """(old, new, abs, pct): often a move of exactly the amount, where floats go wrong."""
    old = draw(DECIMALS)
    if draw(st.booleans()):  # a move of exactly a whole percentage of a 2-place price
        old = old.quantize(Decimal("0.01"))
        pct = Decimal(draw(st.integers(0, 100)))
        new = old + draw(st.sampled_from([1, -1])) * old * pct / 100
    else:
        new, pct = draw(DECIMALS), draw(AMOUNTS)
    exact_abs = abs(new - old)
    abs_ = draw(st.none() | st.just(exact_abs) | AMOUNTS)
    return old, new, abs_, draw(st.none() | st.just(pct) | AMOUNTS)


def exact_enough(old: Decimal, new: Decimal, abs_: Decimal | None, pct: Decimal | None) -> bool:
    """The documented rule in exact rational arithmetic."""
    delta = abs(Fraction(new) - Fraction(old))
    if abs_ is not None and delta < Fraction(abs_):
        return False
    return pct is None or old == 0 or delta * 100 >= Fraction(pct) * abs(Fraction(old))


@given(move=moves())
def test_thresholds_agree_with_exact_rational_arithmetic(move: Move) -> None:
    """For decimals with up to 4 places, parsed as the feed and the rule file parse them, the
    threshold decides exactly as rational arithmetic on the written values does."""
    old, new, abs_, pct = move
    threshold = Threshold(
        field="P",
        abs=None if abs_ is None else float(abs_),  # YAML reads 0.2 as a float too
        pct=None if pct is None else float(pct),
    )
    got = threshold.enough(parsed(format(old, "f")), parsed(format(new, "f")))
    assert got is exact_enough(old, new, abs_, pct)


@pytest.mark.parametrize(
    ("threshold", "new", "enough"),
    [
        (Threshold(field="P", pct=5), "105", True),  # inclusive (the default): at least 5%
        (Threshold(field="P", pct=5, boundary="strict"), "105", False),  # strict: more than 5%
        (Threshold(field="P", pct=5, boundary="strict"), "105.01", True),
        (Threshold(field="P", abs=5, boundary="strict"), "95", False),  # exactly 5 less
        (Threshold(field="P", abs=5, boundary="strict"), "94.99", True),
    ],
)
def test_a_strict_threshold_wants_more_than_the_amount(
    threshold: Threshold, new: str, enough: bool
) -> None:
    """boundary: strict makes a move of exactly the amount too small; inclusive counts it."""
    assert threshold.enough(100, parsed(new)) is enough
