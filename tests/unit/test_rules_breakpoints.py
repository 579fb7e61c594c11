"""Breakpoints as a pure step function: crossings, re-arming, first sight, bands, direction."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deltahook.rules.breakpoints import State, step
from deltahook.rules.model import Boundary, Breakpoint, Direction

DOWN = Breakpoint(field="OnhandValue", threshold_field="MinimumValue")


def walk(bp: Breakpoint, values: list[float], limit: float = 3) -> list[bool]:
    """Feed a row the values one after another, keeping state as the store would."""
    stored: State | None = None
    fired = []
    old: Any = None
    for number, value in enumerate(values):
        result = step(
            bp,
            stored=stored,
            old=old,
            old_limit=limit,
            new=value,
            new_limit=limit,
            first_sight=number == 0,
        )
        if result.store:
            stored = result.after
        fired.append(result.fire)
        old = value
    return fired


def test_the_story_from_the_issue() -> None:
    """7 -> 2 fires; 2 -> 1 does not; 8 re-arms; 3 fires again (minimum 3)."""
    assert walk(DOWN, [7, 2, 1, 8, 3]) == [False, True, False, False, True]


def test_a_row_first_seen_below_its_minimum_fires_nothing_by_default() -> None:
    """First sight at 1 with minimum 3 does not fire, nor does the next drop."""
    assert walk(DOWN, [1, 0]) == [False, False]


def test_on_first_sight_fires_a_row_first_seen_below_its_minimum() -> None:
    """on_first_sight: true makes a new row at or below the threshold fire."""
    bp = Breakpoint(field="OnhandValue", threshold=3, on_first_sight=True)
    assert walk(bp, [1, 0, 5, 2]) == [True, False, False, True]


@pytest.mark.parametrize(
    ("values", "fired"),
    [
        ([10, 2, 4, 2], [False, True, False, False]),  # 4 is within 3 + 2: still fired
        ([10, 2, 5.5, 2], [False, True, False, True]),  # 5.5 is past the band: re-armed
        ([10, 3.5, 2], [False, False, True]),  # inside the band but never fired: armed
    ],
)
def test_a_rearm_band_needs_the_value_to_clear_the_band(
    values: list[float], fired: list[bool]
) -> None:
    """With rearm_band 2 and minimum 3, the row re-arms only above 5."""
    bp = Breakpoint(field="OnhandValue", threshold=3, rearm_band=2)
    assert walk(bp, values) == fired


@pytest.mark.parametrize(
    ("values", "fired"),
    [
        ([2, 4, 2], [False, False, False]),  # first seen fired; 4 is inside the band: no re-arm
        ([7, 4, 2], [False, False, True]),  # first seen armed; 4 inside the band: still armed
        ([2, 4, 6, 2], [False, False, False, True]),  # 6 is past 3 + 2: re-armed, then fires
    ],
)
def test_a_row_first_seen_past_its_minimum_is_not_armed_inside_the_band(
    values: list[float], fired: list[bool]
) -> None:
    """With minimum 3 and band 2, the state a row was first seen in holds inside the band."""
    bp = Breakpoint(field="OnhandValue", threshold=3, rearm_band=2)
    assert walk(bp, values) == fired


def test_a_fired_row_without_stored_state_stores_it_before_entering_the_band() -> None:
    """A row past its minimum when the rule was added (no state) that rises into the band
    stores 'fired', so its next drop is not taken for a crossing."""
    bp = Breakpoint(field="OnhandValue", threshold=3, rearm_band=2)
    rise = step(bp, stored=None, old=2, old_limit=3, new=4, new_limit=3, first_sight=False)
    assert (rise.fire, rise.after, rise.store) == (False, "fired", True)
    drop = step(bp, stored=rise.after, old=4, old_limit=3, new=2, new_limit=3, first_sight=False)
    assert drop.fire is False


def test_direction_up_fires_when_stock_comes_back() -> None:
    """Back in stock: 0 -> 1 crosses 1 upwards; 1 -> 3 does not fire again."""
    bp = Breakpoint(field="OnhandValue", threshold=1, direction="up")
    assert walk(bp, [0, 1, 3, 0, 2], limit=1) == [False, True, False, False, True]


@pytest.mark.parametrize(
    ("direction", "boundary", "values", "fired"),
    [
        ("down", "inclusive", [7, 3, 4, 3], [False, True, False, True]),  # at or below 3
        ("down", "strict", [7, 3, 2, 3, 2], [False, False, True, False, True]),  # below 3
        ("up", "inclusive", [0, 3, 2, 3], [False, True, False, True]),  # at or above 3
        ("up", "strict", [0, 3, 4, 3, 4], [False, False, True, False, True]),  # above 3
    ],
)
def test_a_strict_boundary_leaves_the_threshold_itself_on_the_safe_side(
    direction: Direction, boundary: Boundary, values: list[float], fired: list[bool]
) -> None:
    """Strict fires only beyond the threshold, and re-arms at it; inclusive fires at it."""
    bp = Breakpoint(field="OnhandValue", threshold=3, direction=direction, boundary=boundary)
    assert walk(bp, values) == fired


def test_a_strict_recovery_never_fires_on_the_value_the_drop_fired_on() -> None:
    """The default drop (at or below 3) and a strict recovery (above 3) split the values."""
    drop = Breakpoint(field="OnhandValue", threshold=3)
    back = Breakpoint(field="OnhandValue", threshold=3, direction="up", boundary="strict")
    values = [5, 3, 4, 3, 2, 8, 3]
    assert walk(drop, values) == [False, True, False, True, False, False, True]
    assert walk(back, values) == [False, False, True, False, False, True, False]


def test_without_a_threshold_value_nothing_is_decided() -> None:
    """A row with no MinimumValue (or a non-numeric value) neither fires nor changes state."""
    result = step(
        DOWN, stored=None, old=7, old_limit=None, new=2, new_limit=None, first_sight=False
    )
    assert (result.fire, result.store) == (False, False)


def test_only_transitions_are_stored() -> None:
    """A drop that fires stores 'fired'; a move that changes nothing stores nothing."""
    fire = step(DOWN, stored=None, old=7, old_limit=3, new=2, new_limit=3, first_sight=False)
    assert (fire.fire, fire.after, fire.store) == (True, "fired", True)
    same = step(DOWN, stored="fired", old=2, old_limit=3, new=1, new_limit=3, first_sight=False)
    assert (same.fire, same.after, same.store) == (False, "fired", False)


def test_the_rearm_band_is_added_in_the_written_decimals() -> None:
    """Minimum 0.7 and band 0.1: 0.8 is not past 0.8 (in floats 0.7 + 0.1 is 0.7999...)."""
    bp = Breakpoint(field="OnhandValue", threshold=0.7, rearm_band=0.1)
    assert walk(bp, [1, 0.5, 0.8, 0.5], limit=0.7) == [False, True, False, False]


def exact_walk(
    values: list[Decimal], limit: Decimal, band: Decimal, *, down: bool, strict: bool
) -> list[bool]:
    """The documented state machine in exact rational arithmetic (first sight never fires)."""
    sign = 1 if down else -1

    def beyond(value: Decimal, edge: Fraction) -> bool:  # in the firing direction
        at = sign * Fraction(value)
        return at < sign * edge if strict else at <= sign * edge

    fired: list[bool] = []
    state = ""
    for value in values:
        crossed = beyond(value, Fraction(limit))
        fire = state == "armed" and crossed
        if not state or fire:
            state = "fired" if crossed else "armed"
        elif state == "fired" and not beyond(value, Fraction(limit) + sign * Fraction(band)):
            state = "armed"
        fired.append(fire)
    return fired


FOUR_PLACES = st.decimals(min_value=-50, max_value=50, places=4)


@given(
    values=st.lists(FOUR_PLACES, min_size=1, max_size=8),
    limit=FOUR_PLACES,
    band=st.decimals(min_value=0, max_value=5, places=4),
    down=st.booleans(),
    strict=st.booleans(),
)
def test_breakpoints_agree_with_exact_rational_arithmetic(
    values: list[Decimal], limit: Decimal, band: Decimal, down: bool, strict: bool
) -> None:
    """For decimals with up to 4 places, parsed to floats as feeds and rule files are, a row
    fires exactly when the state machine in rational arithmetic says so."""
    bp = Breakpoint(
        field="OnhandValue",
        threshold=float(limit),
        rearm_band=float(band),
        direction="down" if down else "up",
        boundary="strict" if strict else "inclusive",
    )
    floats = [float(v) for v in values]
    assert walk(bp, floats, limit=float(limit)) == exact_walk(
        values, limit, band, down=down, strict=strict
    )
