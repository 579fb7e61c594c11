"""Explanations and near misses: what a person reads to see why a rule did (or did not) fire."""

from __future__ import annotations

from typing import Any

from deltahook.changes.model import EntityChange, FieldChange, Op, RowChange, pack_field
from deltahook.rules.context import Ctx
from deltahook.rules.model import Setting

MAX_MATCHES = 20
_OPS = {op: op.value for op in Op}


def packed_match(
    setting: Setting, ctx: Ctx, fields: list[FieldChange], extra: dict[str, Any]
) -> list[Any]:
    """One row change that made a setting fire (which row, which fields, which limits), packed
    as stored: a list in the order of ``explanations._KEYS``, then the fields (of an inserted
    row, each from absent, as ``{name: new}``), the filter's text and the rest (``unpack``
    spells it out)."""
    change, row = ctx.change, ctx.row
    packed: dict[str, Any] | list[Any]
    if row.op is Op.INSERT:
        packed = {f.field: f.new for f in fields}
    else:
        packed = [pack_field(*f) for f in fields]
    filter_text = setting.filter.text if setting.filter is not None else None
    return [
        setting.uid,
        setting.where,
        change.kind,
        change.key,
        row.table,
        dict(row.key),
        _OPS[row.op],
        packed,
        filter_text,
        extra,
    ]


def near_miss(
    setting: Setting, change: EntityChange, row: RowChange, reason: str, detail: Any
) -> dict[str, Any]:
    """A setting of a changed table that said no: ``reason`` is unwatched, filter, threshold,
    breakpoint, cooldown or payload; ``detail`` holds what it saw."""
    return {
        "type": setting.type,
        "setting": setting.uid,
        "source": setting.where,
        **_row(change, row),
        "reason": reason,
        "detail": detail,
    }


def _row(change: EntityChange, row: RowChange) -> dict[str, Any]:
    return {
        "kind": change.kind,
        "entity": change.key,
        "table": row.table,
        "row": dict(row.key),
        "op": _OPS[row.op],
    }


def summary(explanation: dict[str, Any]) -> str:
    """One or two lines for a table cell: the settings and what changed."""
    parts = []
    for match in explanation.get("matches", [])[:3]:
        fields = ", ".join(_field_text(f) for f in match.get("fields", [])[:4])
        key = "|".join(str(v) for v in match["row"].values())
        text = f"{match['setting']}: {match['op']} {match['table']} {key}"
        if fields:
            text += f": {fields}"
        if "breakpoint" in match:
            bp = match["breakpoint"]
            text += f" [{bp['field']} {bp['old']} -> {bp['new']}, limit {bp['limit']}]"
        if "threshold" in match:
            threshold = match["threshold"]
            least = "more than" if threshold.get("boundary") == "strict" else "at least"
            text += f" [threshold: {least} {_amount(threshold)}]"
        parts.append(text)
    more = len(explanation.get("matches", [])) - 3 + explanation.get("more_matches", 0)
    if more > 0:
        parts.append(f"... and {more} more row(s)")
    return "\n".join(parts)


def _field_text(change: dict[str, Any]) -> str:
    if "added" in change:  # a list: what it gained and lost says more than both lists
        gained = [f"added {change['added']!r}"] if change["added"] else []
        lost = [f"removed {change['removed']!r}"] if change["removed"] else []
        return f"{change['field']} {', '.join(gained + lost)}"
    old = repr(change["old"]) if "old" in change else "(absent)"
    new = repr(change["new"]) if "new" in change else "(absent)"
    return f"{change['field']} {old} -> {new}"


def _amount(threshold: dict[str, Any]) -> str:
    amounts = [f"{threshold['abs']:g}" if "abs" in threshold else ""]
    if "pct" in threshold:
        amounts.append(f"{threshold['pct']:g}%")
    return " and ".join(a for a in amounts if a)


def miss_text(miss: dict[str, Any]) -> str:
    """A near miss in one line: why the setting said no and what it saw."""
    detail = miss["detail"]
    reason = miss["reason"]
    if reason == "unwatched":
        changed = ", ".join(_field_text(f) for f in detail["changed"][:4])
        return f"no watched field changed (changed: {changed})"
    if reason == "filter":
        return "; ".join(f"{d['condition']} was false (saw {d['seen']})" for d in detail)
    if reason == "threshold":
        short = "no more than" if detail.get("boundary") == "strict" else "less than"
        return (
            f"{detail['field']} {detail.get('old')} -> {detail.get('new')} "
            f"moved {short} {_amount(detail)}"
        )
    if reason == "breakpoint":
        return (
            f"{detail['field']} {detail['old']} -> {detail['new']}, limit {detail['limit']}: "
            f"{detail['why']}"
        )
    if reason == "cooldown":
        return f"cooldown until {detail['until']}"
    return f"invalid payload: {'; '.join(detail['errors'])}"
