"""Breakpoints: edge-triggered crossings with per-row state, as a pure step function.

A row is *armed* while its value is on the safe side of the threshold and *fired* once it has
crossed. Direction ``down`` (the default): it fires when an armed row's value drops to or below
the threshold, and re-arms only when the value rises above threshold + ``rearm_band``.
Direction ``up`` mirrors that (fire at or above, re-arm below threshold - band).

The stored state is written only on a transition (fire or re-arm); a row without stored state
takes the state its previous value implies. A row seen for the first time (inserted, or without
a previous value) never fires unless the setting says ``on_first_sight: true``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from deltahook.rules.model import Breakpoint

State = Literal["armed", "fired"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Step:
    """What one row change does to a breakpoint: fire or not, and the state after it."""

    fire: bool
    before: State | None  # None: first sight
    after: State | None  # None: nothing to evaluate (value or threshold not a number)
    store: bool  # whether ``after`` must be written
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"state": f"{self.before or 'new'} -> {self.after or 'unknown'}", "why": self.reason}


def _number(value: Any) -> bool:
    return type(value) is not bool and isinstance(value, int | float)


def crossed(bp: Breakpoint, value: float, limit: float) -> bool:
    """Whether ``value`` is at or beyond the threshold in the breakpoint's direction."""
    return value <= limit if bp.direction == "down" else value >= limit


def rearmed(bp: Breakpoint, value: float, limit: float) -> bool:
    """Whether ``value`` is back on the safe side, past the re-arm band."""
    if bp.direction == "down":
        return value > limit + bp.rearm_band
    return value < limit - bp.rearm_band


def step(
    bp: Breakpoint,
    *,
    stored: State | None,
    old: Any,
    old_limit: Any,
    new: Any,
    new_limit: Any,
    first_sight: bool,
) -> Step:
    """The breakpoint's decision for one row going from ``old`` to ``new``."""
    if not (_number(new) and _number(new_limit)):
        return Step(
            fire=False, before=stored, after=stored, store=False, reason="no value to compare"
        )
    beyond = crossed(bp, new, new_limit)
    sign = "<=" if bp.direction == "down" else ">="
    if first_sight or not _number(old):
        after: State = "fired" if beyond else "armed"
        fire = beyond and bp.on_first_sight
        reason = f"first sight at {new} {sign} {new_limit}" if beyond else f"first sight at {new}"
        if beyond and not fire:
            reason += " (on_first_sight is false)"
        store = stored is not None and stored != after
        return Step(fire=fire, before=None, after=after, store=store, reason=reason)
    before = stored or _implied(bp, old, old_limit)
    if before == "armed" and beyond:
        return Step(
            fire=True,
            before=before,
            after="fired",
            store=True,
            reason=f"crossed: {old} -> {new} {sign} {new_limit}",
        )
    if before == "fired" and rearmed(bp, new, new_limit):
        return Step(
            fire=False, before=before, after="armed", store=True, reason=f"re-armed at {new}"
        )
    reason = "already past the threshold" if before == "fired" else "did not cross"
    if before == "fired" and not beyond:
        reason = f"still within the re-arm band ({new}, band {bp.rearm_band:g})"
    return Step(fire=False, before=before, after=before, store=False, reason=reason)


def _implied(bp: Breakpoint, old: Any, old_limit: Any) -> State:
    """The state a row without stored state is in, from its previous value."""
    limit = old_limit if _number(old_limit) else None
    if limit is None:
        return "armed"
    return "fired" if crossed(bp, old, limit) else "armed"
