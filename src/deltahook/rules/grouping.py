"""Hits into notifications: each payload built and validated once, grouped into one
notification per type and distinct payload per job (per row for a setting grouped by row),
each new group with the next id of its job (``decided``) and the explanation of every hit."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from deltahook.changes.canonical import kept
from deltahook.changes.model import FieldChange
from deltahook.explanations import Explanation
from deltahook.notifications import Notification
from deltahook.rules.context import Ctx
from deltahook.rules.decided import Decided
from deltahook.rules.explain import MAX_MATCHES, packed_match
from deltahook.rules.model import Setting


@dataclass(slots=True)
class Hit:
    """A setting that said yes to a row change, and why."""

    setting: Setting
    ctx: Ctx
    fields: list[FieldChange]
    extra: dict[str, Any] = field(default_factory=dict)


Invalid = Callable[[Hit, dict[str, Any]], None]
"""Told of a hit whose payload its event type's schema refuses."""


def notifications(
    hits: list[Hit], *, decided: Decided, now: datetime, invalid: Invalid
) -> list[Notification]:
    """One notification per type and distinct payload (per row, for a setting grouped by
    row) that the job has not decided before, in the order of the groups, each with the job's
    next id; a hit whose payload is not valid goes to ``invalid``."""
    # Per group, its first payload and its hits: a payload met before is valid (only valid
    # ones make a group), so it costs one look-up.
    groups: dict[tuple[str, bytes], tuple[dict[str, Any], list[Hit]]] = {}
    for hit in hits:
        setting = hit.setting
        payload = setting.payload.build(hit.ctx)
        identity = kept(orjson.dumps(payload, option=orjson.OPT_SORT_KEYS))
        if setting.group == "row":
            identity += orjson.dumps([hit.ctx.change.kind, hit.ctx.row.table, hit.ctx.row.key])
        group = (setting.type, identity)
        found = groups.get(group)
        if found is not None:
            found[1].append(hit)
        elif setting.event.is_valid(payload):
            groups[group] = (payload, [hit])
        else:
            invalid(hit, payload)
    order = sorted(groups)
    return [
        _notification(notification_id, group[0], *groups[group], decided.job_id, now)
        for group, notification_id in zip(order, decided.fresh(order), strict=True)
        if notification_id is not None
    ]


def _entity(hit: Hit) -> tuple[str, str]:
    """The entity a hit notifies about: the referrer for a fan-out, else the changed one."""
    reached = hit.extra.get("referrer")
    if reached is not None:
        return reached["kind"], reached["key"]
    return hit.ctx.change.kind, hit.ctx.change.key


def _notification(
    notification_id: str,
    kind: str,
    payload: dict[str, Any],
    members: list[Hit],
    job_id: str,
    now: datetime,
) -> Notification:
    if len(members) == 1:  # most groups: one row of one setting (nothing to sort)
        hits = members
        entity = _entity(members[0])
        settings = [members[0].setting.uid]
    else:
        hits = sorted(
            members,
            key=lambda h: (h.setting.id, h.ctx.change.kind, h.ctx.change.key, h.ctx.row.table),
        )
        entity = min(_entity(h) for h in hits)
        settings = sorted({h.setting.uid for h in hits})
    return Notification(
        id=notification_id,
        type=kind,
        family="notification",
        payload=payload,
        created_at=now,
        entity_kind=entity[0],
        entity_key=entity[1],
        job_id=job_id,
        explanation=Explanation(_packed, kind, settings, hits),
    )


def _packed(kind: str, settings: list[str], hits: list[Hit]) -> dict[str, Any]:
    """Which settings fired and, for each row that made one fire, why: as stored, each match
    packed (``Explanation`` spells it out when read)."""
    matches = [packed_match(h.setting, h.ctx, h.fields, h.extra) for h in hits[:MAX_MATCHES]]
    explanation: dict[str, Any] = {"rule": kind, "settings": settings, "matches": matches}
    if len(hits) > MAX_MATCHES:
        explanation["more_matches"] = len(hits) - MAX_MATCHES
    return explanation
