"""A loaded rule set: compiled settings, routed by (entity kind, table)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any, Literal

from deltahook.catalog.events import EventType
from deltahook.changes.model import FieldChange, Op
from deltahook.rules.conditions import Cond
from deltahook.rules.fanout import FanOut
from deltahook.rules.numbers import EXACT, exact, is_number, moved
from deltahook.rules.payload import Payload

Direction = Literal["down", "up"]
Boundary = Literal["inclusive", "strict"]  # whether the threshold value itself counts
Group = Literal["payload", "row"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Threshold:
    """A numeric change counts only when it is at least (``inclusive``) or more than
    (``strict``) ``abs`` and/or ``pct`` percent."""

    field: str
    abs: float | None = None
    pct: float | None = None
    boundary: Boundary = "inclusive"

    def enough(self, old: Any, new: Any) -> bool:
        """True unless both values are numbers that moved by less than the amount."""
        if not (is_number(old) and is_number(new)):
            return True  # appearing, vanishing or changing type is a change worth telling
        delta = moved(old, new)  # the written decimals, exactly: 10.00 -> 9.90 is 1%
        if self.abs is not None and not self._reaches(delta, exact(self.abs)):
            return False
        if self.pct is None or old == 0:
            return True
        percent = EXACT.multiply(exact(self.pct), EXACT.abs(exact(old)))
        return self._reaches(EXACT.multiply(delta, 100), percent)

    def _reaches(self, moved_by: Decimal, amount: Decimal) -> bool:
        return moved_by > amount if self.boundary == "strict" else moved_by >= amount

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"field": self.field}
        if self.abs is not None:
            out["abs"] = self.abs
        if self.pct is not None:
            out["pct"] = self.pct
        return out | {"boundary": self.boundary}


@dataclass(frozen=True, slots=True, kw_only=True)
class Breakpoint:
    """A value crossing a threshold (a number or another field of the row), edge-triggered."""

    field: str
    threshold: float | None = None
    threshold_field: str | None = None
    direction: Direction = "down"
    boundary: Boundary = "inclusive"
    on_first_sight: bool = False
    rearm_band: float = 0.0

    def limit(self, row: Mapping[str, Any] | None) -> Any:
        """The threshold for a row: the fixed number, or the row's threshold field."""
        if self.threshold_field is None:
            return self.threshold
        return None if row is None else row.get(self.threshold_field)

    def to_json(self) -> dict[str, Any]:
        limit = self.threshold_field if self.threshold_field is not None else self.threshold
        return {
            "field": self.field,
            "threshold": limit,
            "direction": self.direction,
            "boundary": self.boundary,
            "rearm_band": self.rearm_band,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Setting:
    """One Event Setting: when a change of one table counts for one notification type."""

    type: str
    id: str
    kind: str
    table: str
    ops: frozenset[Op]
    watch: tuple[str, ...]
    watch_known: frozenset[str]
    watch_pattern: re.Pattern[str] | None
    filter: Cond | None
    threshold: Threshold | None
    breakpoint: Breakpoint | None
    payload: Payload
    event: EventType = field(compare=False)
    group: Group = "payload"
    path: str = ""
    line: int = 0
    column: int = 0
    known_fields: frozenset[str] = frozenset()
    parent_kind: str | None = None
    filter_needs_parent: bool = False  # the filter reads parent.X
    fan_out: FanOut | None = None  # notify the entities that reference the changed one
    cooldown: timedelta | None = None  # at most one notification per entity per period
    # The setting's name in stored rule state and explanations (``Type/id``) and its place
    # (``path:line``): read for every notification, so made once.
    uid: str = field(init=False, compare=False, repr=False)
    where: str = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "uid", f"{self.type}/{self.id}")
        object.__setattr__(self, "where", f"{self.path}:{self.line}")

    def watched(self, fields: tuple[FieldChange, ...]) -> list[FieldChange]:
        """The changed fields this setting watches."""
        out = []
        for change in fields:
            name = change.field
            if name in self.watch_known or (
                name not in self.known_fields
                and self.watch_pattern is not None
                and self.watch_pattern.fullmatch(name)
            ):
                out.append(change)
        return out


@dataclass(frozen=True, slots=True)
class RuleSet:
    """Every setting of every rule file, and the index that routes a row change to them."""

    settings: tuple[Setting, ...]
    files: tuple[str, ...] = ()
    routes: Mapping[tuple[str, str], tuple[Setting, ...]] = field(default_factory=dict)

    @classmethod
    def of(cls, settings: list[Setting], files: list[str]) -> RuleSet:
        ordered = tuple(sorted(settings, key=lambda s: (s.type, s.id)))
        routes: dict[tuple[str, str], list[Setting]] = {}
        for setting in ordered:
            routes.setdefault((setting.kind, setting.table), []).append(setting)
        return cls(ordered, tuple(files), {k: tuple(v) for k, v in routes.items()})

    def __iter__(self) -> Iterator[Setting]:
        return iter(self.settings)

    def __len__(self) -> int:
        return len(self.settings)

    def types(self) -> frozenset[str]:
        """The notification types some setting can fire."""
        return frozenset(s.type for s in self.settings)

    def kinds(self) -> frozenset[str]:
        return frozenset(kind for kind, _table in self.routes)
