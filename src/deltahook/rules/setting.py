"""Compiling one Event Setting from its YAML node, checked against the catalogs."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from deltahook.catalog.events import EventType
from deltahook.changes.model import Op
from deltahook.rules.conditions import Compiler
from deltahook.rules.model import Boundary, Breakpoint, Direction, Group, Setting, Threshold
from deltahook.rules.payload import Source, compile_payload, read_sources
from deltahook.rules.source import Node, Reader, suggest
from deltahook.rules.tables import TableInfo

SETTING_KEYS = (
    "id",
    "description",
    "table",
    "kind",
    "on",
    "watch",
    "filter",
    "threshold",
    "breakpoint",
    "payload",
    "group",
)
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_OPS = {op.value: op for op in Op}
_BREAKPOINT_KEYS = (
    "field",
    "threshold",
    "direction",
    "boundary",
    "on_first_sight",
    "rearm_band",
)
_BOUNDARIES = ("inclusive", "strict")


@dataclass(slots=True)
class Scope:
    """What a setting is compiled against: the catalogs and the project constants."""

    tables: Mapping[str, list[TableInfo]]
    constants: Mapping[str, Any]


def compile_setting(
    reader: Reader,
    node: Node,
    *,
    event: EventType,
    rule_payload: Mapping[str, Source],
    scope: Scope,
) -> Setting | None:
    """The compiled setting, or None after recording every problem found in it."""
    entries = reader.mapping(node, "a setting", allowed=SETTING_KEYS, required=("id", "table"))
    if entries is None or "id" not in entries or "table" not in entries:
        return None
    before = len(reader.problems)
    ident = reader.string(entries["id"][1], "id")
    if ident is not None and not _ID.match(ident):
        reader.error(entries["id"][1], f"id {ident!r}: use letters, digits, '-', '_' or '.'")
    table = _table(reader, entries, scope.tables)
    if table is None or ident is None:
        return None
    attrs = {"id": ident, "kind": table.kind, "table": table.table, "type": event.name}
    breakpoint = (
        _breakpoint(reader, entries["breakpoint"][1], table) if "breakpoint" in entries else None
    )
    if breakpoint is not None:  # a payload may carry it where the event schema has a place
        attrs["direction"] = breakpoint.direction
    ops = _ops(reader, entries, is_breakpoint="breakpoint" in entries)
    watch = _watch(reader, entries, table, ops, breakpoint)
    compiler = Compiler(reader, table, scope.constants, attrs)
    cond = compiler.compile(entries["filter"][1]) if "filter" in entries else None
    threshold = _threshold(reader, entries, table, watch)
    group = _group(reader, entries)
    sources = dict(rule_payload)
    if "payload" in entries:
        sources.update(read_sources(reader, entries["payload"][1]) or {})
    payload = compile_payload(
        reader,
        entries["id"][1],
        sources,
        event=event,
        table=table,
        constants=scope.constants,
        setting=attrs,
    )
    if len(reader.problems) > before or payload is None or ops is None or watch is None:
        return None
    return Setting(
        type=event.name,
        id=ident,
        kind=table.kind,
        table=table.table,
        ops=ops,
        watch=watch,
        watch_known=_expand(watch, table),
        watch_pattern=_pattern(watch),
        filter=cond,
        threshold=threshold,
        breakpoint=breakpoint,
        payload=payload,
        event=event,
        group=group,
        path=reader.path,
        line=node.start_mark.line + 1,
        column=node.start_mark.column + 1,
        known_fields=frozenset(table.fields),
        parent_kind=table.parent_kind,
        filter_needs_parent=compiler.needs_parent,
    )


def _table(
    reader: Reader, entries: Mapping[str, tuple[Node, Node]], tables: Mapping[str, list[TableInfo]]
) -> TableInfo | None:
    table_node = entries["table"][1]
    name = reader.string(table_node, "table")
    if name is None:
        return None
    owners = tables.get(name)
    if not owners:
        reader.error(table_node, f"unknown table {name!r}{suggest(name, tables)}")
        return None
    if "kind" not in entries:
        if len(owners) > 1:
            kinds = ", ".join(sorted(t.kind for t in owners))
            reader.error(
                table_node, f"table {name!r} belongs to kinds {kinds}: add kind: to say which"
            )
            return None
        return owners[0]
    kind_node = entries["kind"][1]
    kind = reader.string(kind_node, "kind")
    for owner in owners:
        if owner.kind == kind:
            return owner
    if kind is not None:
        hint = suggest(kind, [t.kind for t in owners])
        reader.error(kind_node, f"entity kind {kind!r} has no table {name!r}{hint}")
    return None


def _ops(
    reader: Reader, entries: Mapping[str, tuple[Node, Node]], *, is_breakpoint: bool
) -> frozenset[Op] | None:
    if "on" not in entries:
        if is_breakpoint:
            return frozenset({Op.INSERT, Op.UPDATE})
        reader.error(entries["id"][1], "setting needs on: [insert, update, delete] (some of them)")
        return None
    items = reader.strings(entries["on"][1], "on")
    if items is None:
        return None
    ops: set[Op] = set()
    for node, name in items:
        if name not in _OPS:
            reader.error(node, f"on: unknown operation {name!r}{suggest(name, _OPS)}")
            return None
        ops.add(_OPS[name])
    if is_breakpoint and Op.DELETE in ops:
        reader.error(entries["on"][1], "a breakpoint watches values: on may hold insert and update")
        return None
    return frozenset(ops)


def _watch(
    reader: Reader,
    entries: Mapping[str, tuple[Node, Node]],
    table: TableInfo,
    ops: frozenset[Op] | None,
    breakpoint: Breakpoint | None,
) -> tuple[str, ...] | None:
    """The watched field globs (for a breakpoint: its field and threshold field)."""
    if "breakpoint" in entries:
        return _breakpoint_watch(reader, entries, breakpoint)
    if "watch" not in entries:
        if ops is not None and Op.UPDATE in ops:
            reader.error(
                entries["on"][1],
                "on update needs watch: the fields that matter (['*'] for every field)",
            )
            return None
        return ()
    if ops is not None and Op.UPDATE not in ops:
        reader.error(entries["watch"][0], "watch applies to updates only; add update to on")
        return None
    items = reader.strings(entries["watch"][1], "watch")
    fields = sorted(table.fields)
    for node, glob in items or []:
        if not fnmatch.filter(fields, glob):
            hint = suggest(glob, fields)
            reader.error(node, f"watch {glob!r} matches no field of {table.table}{hint}")
            items = None
    return None if items is None else tuple(glob for _node, glob in items)


def _breakpoint_watch(
    reader: Reader, entries: Mapping[str, tuple[Node, Node]], breakpoint: Breakpoint | None
) -> tuple[str, ...] | None:
    if "watch" in entries:
        reader.error(entries["watch"][0], "a breakpoint watches its own field and threshold")
        return None
    if breakpoint is None:
        return None
    return tuple(f for f in (breakpoint.field, breakpoint.threshold_field) if f is not None)


def _expand(watch: tuple[str, ...], table: TableInfo) -> frozenset[str]:
    return frozenset(f for glob in watch for f in fnmatch.filter(sorted(table.fields), glob))


def _pattern(watch: tuple[str, ...]) -> re.Pattern[str] | None:
    globs = [g for g in watch if any(ch in g for ch in "*?[")]
    if not globs:
        return None
    return re.compile("|".join(f"(?:{fnmatch.translate(g)})" for g in globs))


def _numeric_field(reader: Reader, node: Node, table: TableInfo, what: str) -> str | None:
    name = reader.string(node, what)
    if name is None:
        return None
    types = table.fields.get(name)
    if types is None:
        reader.error(
            node, f"{what}: {table.table} has no field {name!r}{suggest(name, table.fields)}"
        )
        return None
    if "number" not in types:
        reader.error(node, f"{what}: {table.table}.{name} is not a number field")
        return None
    return name


def _threshold(
    reader: Reader,
    entries: Mapping[str, tuple[Node, Node]],
    table: TableInfo,
    watch: tuple[str, ...] | None,
) -> Threshold | None:
    if "threshold" not in entries:
        return None
    node = entries["threshold"][1]
    spec = reader.mapping(
        node, "threshold", allowed=("field", "abs", "pct", "boundary"), required=("field",)
    )
    if spec is None or "field" not in spec:
        return None
    name = _numeric_field(reader, spec["field"][1], table, "threshold field")
    amounts = {
        k: reader.number(spec[k][1], f"threshold {k}", minimum=0)
        for k in ("abs", "pct")
        if k in spec
    }
    if not amounts:
        reader.error(node, "threshold needs abs: (an amount) or pct: (a percentage), or both")
        return None
    boundary = _boundary(reader, spec)
    if name is None or boundary is None or None in amounts.values():
        return None
    if watch is not None and name not in _expand(watch, table):
        reader.error(spec["field"][1], f"threshold field {name!r} is not watched by this setting")
        return None
    return Threshold(field=name, abs=amounts.get("abs"), pct=amounts.get("pct"), boundary=boundary)


def _breakpoint(reader: Reader, node: Node, table: TableInfo) -> Breakpoint | None:
    spec = reader.mapping(
        node, "breakpoint", allowed=_BREAKPOINT_KEYS, required=("field", "threshold")
    )
    if spec is None or "field" not in spec or "threshold" not in spec:
        return None
    name = _numeric_field(reader, spec["field"][1], table, "breakpoint field")
    limit_node = spec["threshold"][1]
    ok, limit = reader.scalar(limit_node, "breakpoint threshold")
    number: float | None = None
    limit_field: str | None = None
    if isinstance(limit, str):
        limit_field = _numeric_field(reader, limit_node, table, "breakpoint threshold")
    elif ok:
        number = reader.number(limit_node, "breakpoint threshold")
    direction = _direction(reader, spec)
    boundary = _boundary(reader, spec)
    first = (
        reader.boolean(spec["on_first_sight"][1], "on_first_sight")
        if "on_first_sight" in spec
        else False
    )
    band = (
        reader.number(spec["rearm_band"][1], "rearm_band", minimum=0)
        if "rearm_band" in spec
        else 0.0
    )
    if name is None or (number is None and limit_field is None) or boundary is None:
        return None
    if None in (direction, first, band):
        return None
    return Breakpoint(
        field=name,
        threshold=number,
        threshold_field=limit_field,
        direction=cast(Direction, direction),
        boundary=boundary,
        on_first_sight=bool(first),
        rearm_band=float(band or 0.0),
    )


def _direction(reader: Reader, spec: Mapping[str, tuple[Node, Node]]) -> str | None:
    if "direction" not in spec:
        return "down"
    node = spec["direction"][1]
    value = reader.string(node, "direction")
    if value is not None and value not in {"down", "up"}:
        reader.error(node, f"direction must be down or up, not {value!r}")
        return None
    return value


def _boundary(reader: Reader, spec: Mapping[str, tuple[Node, Node]]) -> Boundary | None:
    """Whether the threshold value itself counts: inclusive (the default) or strict."""
    if "boundary" not in spec:
        return "inclusive"
    node = spec["boundary"][1]
    ok, value = reader.scalar(node, "boundary")
    if ok and value not in _BOUNDARIES:
        hint = suggest(value, _BOUNDARIES) if isinstance(value, str) else ""
        reader.error(node, f"boundary must be inclusive or strict, not {value!r}{hint}")
        return None
    return cast(Boundary, value) if ok else None


def _group(reader: Reader, entries: Mapping[str, tuple[Node, Node]]) -> Group:
    if "group" not in entries:
        return "payload"
    node = entries["group"][1]
    value = reader.string(node, "group")
    if value not in {"payload", "row"}:
        if value is not None:
            reader.error(node, f"group must be payload or row, not {value!r}")
        return "payload"
    return cast(Group, value)
