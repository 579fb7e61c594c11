"""Noise, measured: per setting, the notifications it fired in the last day and week, and the
fields that triggered them, read from the stored explanations.

One indexed range query over the week's notifications (``created_at``, or ``type`` and
``created_at`` for one type), read in pages; the
explanations are parsed here, so the cost grows with the week's notifications, not the store.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select

from deltahook.explanations import unpack
from deltahook.store.tables import notifications

DAY = timedelta(days=1)
WEEK = timedelta(days=7)
_PAGE = 2_000


@dataclass(slots=True, kw_only=True)
class SettingStats:
    """One setting's notifications of the last day and week and their fields (the week's)."""

    setting: str
    day: int = 0
    week: int = 0
    fields: Counter[str] = field(default_factory=Counter)

    def to_json(self) -> dict[str, Any]:
        return {
            "setting": self.setting,
            "day": self.day,
            "week": self.week,
            "fields": dict(self.fields.most_common()),
        }


def setting_stats(
    conn: Connection, *, now: datetime, type: str | None = None
) -> list[SettingStats]:
    """Each setting that fired in the week before ``now``, the noisiest first; only the
    notifications of ``type`` when given (the console's Event Settings tab)."""
    n = notifications.c
    query = (
        select(n.created_at, n.explanation)
        .where(n.created_at >= now - WEEK, n.created_at <= now, n.explanation.is_not(None))
        .execution_options(yield_per=_PAGE)
    )
    if type is not None:
        query = query.where(n.type == type)  # the (type, created_at) index
    found: dict[str, SettingStats] = {}
    for created_at, explanation in conn.execute(query):
        _count(found, unpack(explanation), recent=created_at >= now - DAY)
    return sorted(found.values(), key=lambda s: (-s.week, -s.day, s.setting))


def _count(found: dict[str, SettingStats], explanation: dict[str, Any], *, recent: bool) -> None:
    for uid in explanation.get("settings", ()):
        stats = found.setdefault(uid, SettingStats(setting=uid))
        stats.week += 1
        stats.day += recent
    for match in explanation.get("matches", ()):
        matched = found.get(match.get("setting", ""))
        if matched is not None:
            matched.fields.update({f["field"] for f in match.get("fields", ())})
