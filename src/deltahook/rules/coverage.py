"""Rule test coverage: which settings the tests fired, and which filter branches they saw
both true and false.

Branches are judged afterwards, on the row changes the tests stored: each condition of a
setting's filter is tested on every row change the setting would look at (its table and
operation; for updates, a watched field changed). ``parent.X`` reads nothing there.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from deltahook.changes.model import EntityChange, Op
from deltahook.notifications import Notification
from deltahook.rules.conditions import Cond
from deltahook.rules.context import Ctx
from deltahook.rules.model import RuleSet, Setting


@dataclass(slots=True)
class Coverage:
    """What the rule tests exercised, gathered case by case (``add``)."""

    settings: dict[str, Setting] = field(default_factory=dict)
    fired: Counter[str] = field(default_factory=Counter)
    seen: dict[tuple[str, int], set[bool]] = field(default_factory=dict)

    def add(
        self, rules: RuleSet, changes: Iterable[EntityChange], fired: Iterable[Notification]
    ) -> None:
        """Count what fired and test each filter condition on ``changes``."""
        for setting in rules:
            self.settings.setdefault(setting.uid, setting)
        for n in fired:
            self.fired.update(n.explanation.get("settings", ()))
        for change in changes:
            for row in change.rows:
                for setting in rules.routes.get((change.kind, row.table), ()):
                    if setting.filter is None or row.op not in setting.ops:
                        continue
                    if row.op is Op.UPDATE and not setting.watched(row.fields):
                        continue
                    ctx = Ctx.of(change, row)
                    for number, cond in enumerate(conditions(setting.filter)):
                        self.seen.setdefault((setting.uid, number), set()).add(bool(cond.test(ctx)))

    def unfired(self) -> list[str]:
        return sorted(uid for uid in self.settings if uid not in self.fired)

    def one_sided(self) -> Iterator[tuple[str, str, str]]:
        """(setting, condition, ``never true``/``never false``/``never tested``) per branch
        the tests did not see both ways."""
        for uid, setting in sorted(self.settings.items()):
            if setting.filter is None:
                continue
            for number, cond in enumerate(conditions(setting.filter)):
                values = self.seen.get((uid, number), set())
                if len(values) < 2:
                    missing = "tested" if not values else str(not values.pop()).lower()
                    yield uid, cond.text, f"never {missing}"


def conditions(cond: Cond) -> list[Cond]:
    """``cond`` and every condition inside it, depth first."""
    return [cond, *(inner for part in cond.parts for inner in conditions(part))]
