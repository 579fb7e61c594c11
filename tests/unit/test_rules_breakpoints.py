"""Breakpoints as a pure step function: crossings, re-arming, first sight, bands, direction."""

from __future__ import annotations

from typing import Any

import pytest

from deltahook.rules.breakpoints import State, step
from deltahook.rules.model import Breakpoint

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


def test_direction_up_fires_when_stock_comes_back() -> None:
    """Back in stock: 0 -> 1 crosses 1 upwards; 1 -> 3 does not fire again."""
    bp = Breakpoint(field="OnhandValue", threshold=1, direction="up")
    assert walk(bp, [0, 1, 3, 0, 2], limit=1) == [False, True, False, False, True]


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
