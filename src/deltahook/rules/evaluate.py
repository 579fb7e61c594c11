"""Deciding notifications: the rule set applied to the entity changes of each batch.

One ``RulesDecider`` serves one ingest (or preview) job. Per batch it

1. routes each row change by (kind, table) to the settings of that table only, and keeps the
   ones whose operation, watched fields, filter and threshold say yes;
2. runs the breakpoint settings against their stored per-row state (one query per batch) and
   writes the transitions in the batch's transaction;
3. loads the parent entities the payload mappings need (one query per batch);
4. builds each payload, validates it with the type's compiled validator, and groups
   (``grouping.py``): one notification per type and distinct payload per job (so one
   ``SkuChangedNotification`` per SKU and table however many rows and fields changed; a price
   or stock payload names its row, so those are one per row).

A job's notifications take its ids in the order decided (``notifications.JobIds``). A group
already notified by an earlier batch of the job is known by ``decided.Decided``, which keeps
what a batch decided only once the batch is kept (``end_batch``), so a batch retried after a
conflict sees exactly what was committed before it.

With ``explain`` on, it also keeps the near misses: a setting of a changed table that said no,
with the reason and the values it saw.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection

from deltahook.changes.model import EntityChange, FieldChange, Op, RowChange
from deltahook.notifications import Notification
from deltahook.rules import cooldown, grouping, state
from deltahook.rules.breakpoints import step
from deltahook.rules.conditions import trace
from deltahook.rules.context import Ctx
from deltahook.rules.decided import Decided
from deltahook.rules.explain import near_miss
from deltahook.rules.fanout import referrer_hits
from deltahook.rules.grouping import Hit
from deltahook.rules.model import RuleSet, Setting
from deltahook.store.snapshots import bodies_by_key

Routes = Mapping[tuple[str, str], Sequence[Setting]]
MAX_NEAR_MISSES = 10_000
MAX_PROBLEMS = 1_000


@dataclass(slots=True)
class _Pending:
    setting: Setting
    ctx: Ctx
    fields: list[FieldChange]


@dataclass(slots=True)
class RulesDecider:
    """The rules engine for one job; ``decide`` is called once per batch (see ``Decider``)."""

    rules: RuleSet
    explain: bool = False
    page: int = 1_000  # referrers read and notified at a time by a fan-out setting
    # Keyed by what they are about, so a batch retried after a conflict does not repeat them.
    misses: dict[tuple[Any, ...], dict[str, Any]] = field(default_factory=dict)
    invalid: dict[tuple[Any, ...], str] = field(default_factory=dict)
    cooled: dict[tuple[Any, ...], datetime] = field(default_factory=dict)  # suppressed
    _breakpoint_routes: dict[str, Routes] = field(init=False, repr=False)
    _fanning: list[Hit] = field(default_factory=list, repr=False)  # this batch's, see fan_out
    _decided: Decided | None = field(default=None, repr=False)  # the job's (the last decided)

    def __post_init__(self) -> None:
        self._breakpoint_routes = _breakpoints_by_kind(self.rules)

    @property
    def near_misses(self) -> list[dict[str, Any]]:
        return list(self.misses.values())

    @property
    def problems(self) -> list[str]:
        return list(self.invalid.values())

    def cooling_notice(self) -> list[str]:
        """One line counting the firings a setting's cooldown suppressed, if any."""
        if not self.cooled:
            return []
        return [f"{len(self.cooled)} firing(s) suppressed by a setting's cooldown"]

    def decide(
        self, conn: Connection, changes: Sequence[EntityChange], *, job_id: str, now: datetime
    ) -> list[Notification]:
        parents = self._filter_parents(conn, changes)
        hits, pending = self._match(changes, parents, self.rules.routes)
        if pending:
            hits.extend(self._breakpoints(conn, pending, now))
        hits = self._cool(conn, hits, now)
        self._fanning = [h for h in hits if h.setting.fan_out is not None]
        hits = [h for h in hits if h.setting.fan_out is None]
        if not hits:
            return []
        _load_parents(conn, hits)
        return self._notify(hits, job_id, now)

    def fan_out(
        self, conn: Connection, *, job_id: str, now: datetime
    ) -> Iterator[list[Notification]]:
        """The notifications of the last ``decide``'s fan-out settings, a page of referrers at
        a time (record each page before asking for the next: one page is held at a time); a
        SKU reached twice in one job is notified once (``decided``)."""
        fanning, self._fanning = self._fanning, []
        for hit in fanning:
            for reached in referrer_hits(conn, hit, page=self.page):
                decided = self._notify(reached, job_id, now)
                if decided:
                    yield decided

    def end_batch(self, *, kept: bool) -> None:
        """The batch decided last was kept (committed, or a preview goes on) or rolled back."""
        if self._decided is not None:
            self._decided.end_batch(kept=kept)

    def close(self) -> None:
        """Let go of what the job decided (a temporary database)."""
        if self._decided is not None:
            self._decided.close()
            self._decided = None

    def settles(self, kind: str) -> bool:
        """Whether changes of ``kind`` can move breakpoint state (see ``settle``)."""
        return kind in self._breakpoint_routes

    def settle(self, conn: Connection, changes: Sequence[EntityChange], *, now: datetime) -> None:
        """Store the breakpoint state these changes lead to, exactly as ``decide`` would, and
        decide nothing: no other setting is tested, no payload is built (a baseline load)."""
        routes = self._breakpoint_routes
        kept = [c for c in changes if c.kind in routes]
        parents = self._filter_parents(conn, kept)
        _hits, pending = self._match(kept, parents, routes[kept[0].kind] if kept else {})
        if pending:
            self._breakpoints(conn, pending, now)

    def _filter_parents(
        self, conn: Connection, changes: Sequence[EntityChange]
    ) -> dict[tuple[str, str], Any]:
        """The stored parents that filters read (``parent.X``), loaded before they are tested."""
        readers = {s.kind: s.parent_kind for s in self.rules if s.filter_needs_parent}
        wanted = {
            (kind, change.parent_key)
            for change in changes
            if (kind := readers.get(change.kind)) is not None and change.parent_key is not None
        }
        return _parents(conn, wanted)

    def _match(
        self,
        changes: Sequence[EntityChange],
        parents: dict[tuple[str, str], Any],
        routes: Routes,
    ) -> tuple[list[Hit], list[_Pending]]:
        hits: list[Hit] = []
        pending: list[_Pending] = []
        for change in changes:
            for row in change.rows:
                settings = routes.get((change.kind, row.table))
                if settings is None:
                    continue
                ctx: Ctx | None = None
                for setting in settings:
                    if row.op not in setting.ops:
                        continue
                    fields = setting.watched(row.fields)
                    if not fields and row.op is Op.UPDATE:
                        self._miss(setting, change, row, "no watched field changed")
                        continue
                    if ctx is None:
                        ctx = Ctx.of(change, row)
                        parent = (setting.parent_kind or "", change.parent_key or "")
                        ctx.parent = parents.get(parent)
                    if setting.filter is not None and not setting.filter.test(ctx):
                        if self.explain:  # the trace re-tests every condition: only if kept
                            self._miss_ctx(setting, ctx, "filter", trace(setting.filter, ctx))
                        continue
                    if setting.breakpoint is not None:
                        pending.append(_Pending(setting, ctx, fields))
                        continue
                    if setting.threshold is None:  # most settings: a hit as it is
                        hits.append(Hit(setting, ctx, fields))
                    elif (hit := self._thresholded(setting, ctx, fields)) is not None:
                        hits.append(hit)
        return hits, pending

    def _thresholded(self, setting: Setting, ctx: Ctx, fields: list[FieldChange]) -> Hit | None:
        """The hit of a setting with a threshold (one without is a hit as it is, ``_match``): an
        update is one only when the measured field moved enough or another field changed."""
        threshold = setting.threshold
        assert threshold is not None
        if ctx.row.op is not Op.UPDATE:
            return Hit(setting, ctx, fields)
        measured = next((f for f in fields if f.field == threshold.field), None)
        detail = threshold.to_json()
        if measured is not None:
            detail |= {"old": measured.old, "new": measured.new}
        others = any(f.field != threshold.field for f in fields)
        if others or measured is None or threshold.enough(measured.old, measured.new):
            return Hit(setting, ctx, fields, {"threshold": detail})
        self._miss_ctx(setting, ctx, "threshold", detail)
        return None

    def _breakpoints(self, conn: Connection, pending: list[_Pending], now: datetime) -> list[Hit]:
        keys = [(p.setting.uid, state.row_key(p.ctx)) for p in pending]
        stored = state.load(conn, keys)
        writes: dict[tuple[str, str], str] = {}
        hits: list[Hit] = []
        for item, key in zip(pending, keys, strict=True):
            bp = item.setting.breakpoint
            assert bp is not None
            row = item.ctx.row
            old, new = row.old or {}, row.new or {}
            result = step(
                bp,
                stored=writes.get(key, stored.get(key)),  # type: ignore[arg-type]
                old=old.get(bp.field),
                old_limit=bp.limit(row.old),
                new=new.get(bp.field),
                new_limit=bp.limit(row.new),
                first_sight=row.op is Op.INSERT,
            )
            if result.store and result.after is not None:
                writes[key] = result.after
            detail = bp.to_json() | {
                "old": old.get(bp.field),
                "new": new.get(bp.field),
                "limit": bp.limit(row.new),
                **result.to_json(),
            }
            if result.fire:
                hits.append(Hit(item.setting, item.ctx, item.fields, {"breakpoint": detail}))
            else:
                self._miss_ctx(item.setting, item.ctx, "breakpoint", detail)
        state.save(conn, writes, existing=stored.keys(), now=now)
        return hits

    def _cool(self, conn: Connection, hits: list[Hit], now: datetime) -> list[Hit]:
        """The hits outside their setting's cooldown; the others are counted and explained."""
        if not any(h.setting.cooldown is not None for h in hits):
            return hits
        firing, cooling = cooldown.split(conn, hits, now)
        for hit, until in cooling:
            self.cooled[_about(hit.setting, hit.ctx.change, hit.ctx.row)] = until
            self._miss_ctx(hit.setting, hit.ctx, "cooldown", {"until": until.isoformat()})
        return firing

    def _notify(self, hits: list[Hit], job_id: str, now: datetime) -> list[Notification]:
        if self._decided is None or self._decided.job_id != job_id:  # a replay's next job
            self.close()
            self._decided = Decided(job_id)
        return grouping.notifications(hits, decided=self._decided, now=now, invalid=self._invalid)

    def _invalid(self, hit: Hit, payload: dict[str, Any]) -> None:
        setting, ctx = hit.setting, hit.ctx
        errors = setting.event.errors(payload)
        if len(self.invalid) < MAX_PROBLEMS:
            self.invalid[_about(setting, ctx.change, ctx.row)] = (
                f"{setting.uid} ({setting.where}): {ctx.change.kind} {ctx.change.key!r} "
                f"{ctx.row.table}: payload not sent, invalid: {'; '.join(errors)}"
            )
        self._miss_ctx(setting, ctx, "payload", {"payload": payload, "errors": errors})

    def _miss(self, setting: Setting, change: EntityChange, row: RowChange, reason: str) -> None:
        if self.explain and len(self.misses) < MAX_NEAR_MISSES:
            changed = [f.to_json() for f in row.fields]
            self.misses[_about(setting, change, row)] = near_miss(
                setting, change, row, "unwatched", {"why": reason, "changed": changed}
            )

    def _miss_ctx(self, setting: Setting, ctx: Ctx, reason: str, detail: Any) -> None:
        if self.explain and len(self.misses) < MAX_NEAR_MISSES:
            key = _about(setting, ctx.change, ctx.row)
            self.misses[key] = near_miss(setting, ctx.change, ctx.row, reason, detail)


def _breakpoints_by_kind(rules: RuleSet) -> dict[str, Routes]:
    """Per entity kind, the routes to its breakpoint settings only."""
    found: dict[str, dict[tuple[str, str], Sequence[Setting]]] = {}
    for route, settings in rules.routes.items():
        kept = [s for s in settings if s.breakpoint is not None]
        if kept:
            found.setdefault(route[0], {})[route] = kept
    return dict(found)


def _about(setting: Setting, change: EntityChange, row: RowChange) -> tuple[Any, ...]:
    return (setting.uid, change.kind, change.key, row.table, tuple(row.key.values()))


def _load_parents(conn: Connection, hits: list[Hit]) -> None:
    wanted: set[tuple[str, str]] = set()
    for hit in hits:
        kind, key = hit.setting.parent_kind, hit.ctx.change.parent_key
        needed = hit.setting.payload.needs_parent and hit.ctx.parent is None
        if needed and kind is not None and key is not None:
            wanted.add((kind, key))
    parents = _parents(conn, wanted)
    for hit in hits:
        found = parents.get((hit.setting.parent_kind or "", hit.ctx.change.parent_key or ""))
        if found is not None and hit.ctx.parent is None:
            hit.ctx.parent = found


def _parents(conn: Connection, wanted: set[tuple[str, str]]) -> dict[tuple[str, str], Any]:
    """The stored bodies of these (kind, key) entities that exist, parsed; one query."""
    if not wanted:
        return {}
    return {k: orjson.loads(body) for k, body in bodies_by_key(conn, sorted(wanted)).items()}
