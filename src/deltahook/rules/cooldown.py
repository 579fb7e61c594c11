"""A setting's ``cooldown``: at most one notification per entity per period.

When a setting with a cooldown fires for an entity, the time is kept in ``rule_state`` (the
setting's uid, row key ``cooldown|<kind>|<entity key>``). A further firing for that entity
before the period is over is suppressed and explained as ``cooldown until T``. Notifications
carry identifiers and receivers look the data up, so the next notification after the period
carries whatever changed meanwhile; a suppressed change with nothing changing afterwards is
never sent (no deferred send yet).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

from sqlalchemy import Connection

from deltahook.delivery.retry import parse_schedule
from deltahook.rules import state
from deltahook.rules.context import Ctx
from deltahook.rules.model import Setting
from deltahook.rules.source import Node, Reader


class Hit(Protocol):
    """What the cooldown reads of a hit: its setting and the change it is about."""

    setting: Setting
    ctx: Ctx


H = TypeVar("H", bound=Hit)


def cooling_until(last: datetime | None, *, now: datetime, period: timedelta) -> datetime | None:
    """When the cooldown started at ``last`` ends, if that is after ``now``; else None (fire)."""
    if last is None or now >= last + period:
        return None
    return last + period


def compile_cooldown(reader: Reader, node: Node) -> timedelta | None:
    """A setting's ``cooldown:``: one positive duration such as ``10m`` or ``1h30m``."""
    ok, value = reader.scalar(node, "cooldown")
    if not ok:
        return None
    try:
        (period,) = parse_schedule(value) if isinstance(value, str) else ()
    except ValueError:
        period = None
    if period is None:
        reader.error(node, f"cooldown: {value!r} is not one duration: use e.g. 10m, 1h or 1h30m")
    return period


def entity_key(hit: Hit) -> tuple[str, str]:
    """The (setting uid, row key) the cooldown of a hit's entity is stored under."""
    change = hit.ctx.change
    return hit.setting.uid, f"cooldown|{change.kind}|{change.key}"


def split(
    conn: Connection, hits: Sequence[H], now: datetime
) -> tuple[list[H], list[tuple[H, datetime]]]:
    """The hits that fire and those suppressed (with the end of their cooldown); the firing
    entities' times are written in the caller's transaction."""
    keys = [entity_key(h) for h in hits if h.setting.cooldown is not None]
    stored = state.load(conn, keys) if keys else {}
    firing: list[H] = []
    cooling: list[tuple[H, datetime]] = []
    writes: dict[state.StateKey, str] = {}
    for hit in hits:
        period = hit.setting.cooldown
        key = entity_key(hit)
        last = stored.get(key)
        until = None
        if period is not None and key not in writes and last is not None:
            until = cooling_until(datetime.fromisoformat(last), now=now, period=period)
        if until is not None:
            cooling.append((hit, until))
            continue
        if period is not None:
            writes[key] = now.isoformat()
        firing.append(hit)
    state.save(conn, writes, existing=stored.keys(), now=now)
    return firing, cooling
