"""Breakpoints: edge-triggered crossings with per-row state, as a pure step function.

A row is *armed* while its value is on the safe side of the threshold and *fired* once it has
crossed. Direction ``down`` (the default): it fires when an armed row's value drops to or below
the threshold, and re-arms only when the value rises above threshold + ``rearm_band``.
Direction ``up`` mirrors that (fire at or above, re-arm below threshold - band). With
``boundary: strict`` the threshold value itself is on the safe side: ``down`` fires below it
and re-arms at threshold + band or above; ``up`` fires above it.

A row without stored state takes the state its previous value implies. So the stored state is
written on a transition (fire or re-arm), and also whenever the value alone would imply the
wrong state: a row that is fired but inside the re-arm band (seen first below the minimum, say,
then rising a little) stores ``fired``, so its next drop is never taken for a crossing. A row
seen for the first time (inserted, or without a previous value) never fires unless the setting
says ``on_first_sight: true``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from deltahook.rules.model import Breakpoint
from deltahook.rules.numbers import exact, is_number, shifted

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


def crossed(bp: Breakpoint, value: float, limit: float) -> bool:
    """Whether ``value`` is past the threshold in the breakpoint's direction: at or beyond it
    (``inclusive``), or strictly beyond it (``strict``)."""
    return _beyond(bp, exact(value), exact(limit))


def rearmed(bp: Breakpoint, value: float, limit: float) -> bool:
    """Whether ``value`` is back on the safe side of the threshold moved by the re-arm band
    (in exact decimals): not past ``limit + band`` going down, ``limit - band`` going up."""
    band = bp.rearm_band if bp.direction == "down" else -bp.rearm_band
    return not _beyond(bp, exact(value), shifted(limit, band))


def _beyond(bp: Breakpoint, at: Decimal, edge: Decimal) -> bool:
    if bp.direction == "down":
        return at < edge if bp.boundary == "strict" else at <= edge
    return at > edge if bp.boundary == "strict" else at >= edge


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
    if not (is_number(new) and is_number(new_limit)):
        return Step(
            fire=False, before=stored, after=stored, store=False, reason="no value to compare"
        )
    if first_sight or not is_number(old):
        return _first_sight(bp, stored, new, new_limit)
    before = stored or _implied(bp, old, old_limit)
    fire, after, reason = _decide(bp, before, old, new, new_limit)
    # Written on each transition, and whenever the value alone would imply another state (a
    # fired row inside the re-arm band): the next step then never has to guess it.
    store = after != stored and (after != before or after != _implied(bp, new, new_limit))
    return Step(fire=fire, before=before, after=after, store=store, reason=reason)


def _first_sight(bp: Breakpoint, stored: State | None, new: Any, new_limit: Any) -> Step:
    """A new row takes the state its value implies, which the next step can tell from the
    value alone, so only a different state stored earlier (a deleted row) is overwritten."""
    beyond = crossed(bp, new, new_limit)
    after: State = "fired" if beyond else "armed"
    fire = beyond and bp.on_first_sight
    reason = f"first sight at {new} {_sign(bp)} {new_limit}" if beyond else f"first sight at {new}"
    if beyond and not fire:
        reason += " (on_first_sight is false)"
    store = stored is not None and stored != after
    return Step(fire=fire, before=None, after=after, store=store, reason=reason)


def _decide(
    bp: Breakpoint, before: State, old: Any, new: Any, limit: Any
) -> tuple[bool, State, str]:
    """Fire, re-arm or stay: (fire, state after, why)."""
    beyond = crossed(bp, new, limit)
    if before == "armed" and beyond:
        return True, "fired", f"crossed: {old} -> {new} {_sign(bp)} {limit}"
    if before == "fired" and rearmed(bp, new, limit):
        return False, "armed", f"re-armed at {new}"
    if before == "armed":
        return False, before, "did not cross"
    if beyond:
        return False, before, "already past the threshold"
    return False, before, f"still within the re-arm band ({new}, band {bp.rearm_band:g})"


def _sign(bp: Breakpoint) -> str:
    sign = "<" if bp.direction == "down" else ">"
    return sign if bp.boundary == "strict" else f"{sign}="


def _implied(bp: Breakpoint, old: Any, old_limit: Any) -> State:
    """The state a row without stored state is in, from its previous value."""
    limit = old_limit if is_number(old_limit) else None
    if limit is None:
        return "armed"
    return "fired" if crossed(bp, old, limit) else "armed"
