"""What a rule change would change: the notifications of two rule sets for the same input.

Notifications are matched by type and entity. Equal payloads match first (they are no
difference, whatever their ids); the rest are paired in order as *altered* (same type and
entity, another payload), and what is left over is *added* (only the new rules fire it) or
*removed* (only the old rules do).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from deltahook.notifications import Notification

if TYPE_CHECKING:
    from deltahook.engine import Engine
    from deltahook.rules.model import RuleSet

Change = Literal["added", "removed", "altered"]
_ORDER = {"removed": 0, "altered": 1, "added": 2}


@dataclass(frozen=True, slots=True, kw_only=True)
class DiffEntry:
    """One difference: which notification, the settings that caused it, old and new payload."""

    change: Change
    type: str
    entity_kind: str | None
    entity_key: str | None
    settings: tuple[str, ...]
    payload_old: Mapping[str, Any] | None
    payload_new: Mapping[str, Any] | None

    @property
    def payload_diff(self) -> dict[str, dict[str, Any]]:
        """Per payload field that differs: its ``old`` and/or ``new`` value."""
        old, new = self.payload_old or {}, self.payload_new or {}
        diff: dict[str, dict[str, Any]] = {}
        for name in [*old, *(k for k in new if k not in old)]:
            if name in old and name in new and old[name] == new[name]:
                continue
            side = {"old": old[name]} if name in old else {}
            diff[name] = side | ({"new": new[name]} if name in new else {})
        return diff

    def to_json(self) -> dict[str, Any]:
        return {
            "change": self.change,
            "type": self.type,
            "entity": {"kind": self.entity_kind, "key": self.entity_key},
            "settings": list(self.settings),
            "payload": {
                "old": dict(self.payload_old) if self.payload_old is not None else None,
                "new": dict(self.payload_new) if self.payload_new is not None else None,
            },
            "payload_diff": self.payload_diff,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleDiff:
    """The differences, removed then altered then added, each by type and entity."""

    entries: tuple[DiffEntry, ...]
    unchanged: int

    def counts(self) -> dict[str, int]:
        found = {"added": 0, "removed": 0, "altered": 0, "unchanged": self.unchanged}
        for entry in self.entries:
            found[entry.change] += 1
        return found

    def to_json(self) -> dict[str, Any]:
        return {"counts": self.counts(), "changes": [e.to_json() for e in self.entries]}


def compare(old: Iterable[Notification], new: Iterable[Notification]) -> RuleDiff:
    """The differences between the notifications ``old`` rules and ``new`` rules fired."""
    groups: dict[tuple[str, str, str], tuple[list[Notification], list[Notification]]]
    groups = defaultdict(lambda: ([], []))
    for side, notes in enumerate((old, new)):
        for n in notes:
            groups[(n.type, n.entity_kind or "", n.entity_key or "")][side].append(n)
    entries: list[DiffEntry] = []
    unchanged = 0
    for olds, news in groups.values():
        unchanged += _drop_equal(olds, news)
        for before, after in zip(olds, news, strict=False):
            entries.append(_entry("altered", before, after))
        entries.extend(_entry("removed", n, None) for n in olds[len(news) :])
        entries.extend(_entry("added", None, n) for n in news[len(olds) :])
    entries.sort(key=lambda e: (_ORDER[e.change], e.type, e.entity_kind or "", e.entity_key or ""))
    return RuleDiff(entries=tuple(entries), unchanged=unchanged)


def _drop_equal(olds: list[Notification], news: list[Notification]) -> int:
    """Remove the pairs with equal payloads from both lists; how many there were."""
    equal = 0
    for before in list(olds):
        match = next((n for n in news if n.payload == before.payload), None)
        if match is not None:
            olds.remove(before)
            news.remove(match)
            equal += 1
    return equal


def _entry(change: Change, old: Notification | None, new: Notification | None) -> DiffEntry:
    either = new or old
    assert either is not None
    return DiffEntry(
        change=change,
        type=either.type,
        entity_kind=either.entity_kind,
        entity_key=either.entity_key,
        settings=_settings(old, new),
        payload_old=old.payload if old is not None else None,
        payload_new=new.payload if new is not None else None,
    )


def _settings(*notes: Notification | None) -> tuple[str, ...]:
    found: set[str] = set()
    for n in notes:
        if n is not None:
            uids: Sequence[str] = n.explanation.get("settings", ())
            found.update(uids)
    return tuple(sorted(found))


def diff_runs(
    engine: Engine, new_rules: RuleSet, runs: Sequence[Callable[[Engine], list[Notification]]]
) -> RuleDiff:
    """Each of ``runs`` (a preview or a replay) with the engine's rules, then with
    ``new_rules``: the differences between the notifications of the two."""
    other = engine.with_rules(new_rules)
    old = [n for run in runs for n in run(engine)]
    new = [n for run in runs for n in run(other)]
    return compare(old, new)
