"""Compiling one Event Setting from its YAML node, checked against the catalogs."""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from deltahook.catalog.events import EventType
from deltahook.changes.model import Op
from deltahook.rules.conditions import Compiler
from deltahook.rules.cooldown import compile_cooldown
from deltahook.rules.fanout import FanOut, fan_out_table
from deltahook.rules.limits import compile_breakpoint, compile_threshold
from deltahook.rules.model import Breakpoint, Group, Setting, Threshold
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
    "fan_out",
    "cooldown",
)
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_OPS = {op.value: op for op in Op}


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
    fan_out = None
    if "fan_out" in entries:
        found = _fan_out(reader, entries, table)
        if found is None:
            return None
        table, fan_out = found
    attrs = {"id": ident, "kind": table.kind, "table": table.table, "type": event.name}
    breakpoint = (
        compile_breakpoint(reader, entries["breakpoint"][1], table)
        if "breakpoint" in entries
        else None
    )
    if breakpoint is not None:  # a payload may carry it where the event schema has a place
        attrs["direction"] = breakpoint.direction
    ops = _ops(reader, entries, is_breakpoint="breakpoint" in entries)
    watch = _watch(reader, entries, table, ops, breakpoint)
    compiler = Compiler(reader, table, scope.constants, attrs)
    cond = compiler.compile(entries["filter"][1]) if "filter" in entries else None
    threshold = _threshold(reader, entries, table, watch)
    group = _group(reader, entries)
    cooldown = compile_cooldown(reader, entries["cooldown"][1]) if "cooldown" in entries else None
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
        fan_out=fan_out,
        cooldown=cooldown,
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


def _fan_out(
    reader: Reader, entries: Mapping[str, tuple[Node, Node]], table: TableInfo
) -> tuple[TableInfo, FanOut] | None:
    if "breakpoint" in entries:
        reader.error(entries["fan_out"][0], "a breakpoint setting cannot fan out")
        return None
    if "cooldown" in entries:
        reader.error(entries["cooldown"][0], "a fan-out setting cannot have a cooldown (yet)")
        return None
    return fan_out_table(reader, entries["fan_out"][1], table)


def _ops(
    reader: Reader, entries: Mapping[str, tuple[Node, Node]], *, is_breakpoint: bool
) -> frozenset[Op] | None:
    if "on" not in entries:
        if is_breakpoint:
            return frozenset({Op.INSERT, Op.UPDATE})
        reader.error(entries["id"][1], "setting needs on: [insert, update, delete] (some of them)")
        return None
    items = reader.strings(entries["on"][1], "on")
    if not items:
        if items is not None:  # on: [], a setting that could never fire
            reader.error(entries["on"][1], "on needs at least one of insert, update, delete")
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
    if items == []:  # updates of no field: the setting would never fire on one
        reader.error(entries["watch"][1], "watch needs at least one field (['*'] for every field)")
        return None
    fields = sorted(table.fields)
    for node, glob in items or []:
        if not _matching(fields, glob):
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
    return frozenset(f for glob in watch for f in _matching(sorted(table.fields), glob))


def _matching(names: list[str], glob: str) -> list[str]:
    """``fnmatch.filter(names, glob)``; a glob without wildcards (most watched fields) is
    compared as it is, not compiled into a regular expression."""
    if any(ch in glob for ch in "*?["):
        return fnmatch.filter(names, glob)
    wanted = os.path.normcase(glob)
    return [name for name in names if os.path.normcase(name) == wanted]


def _pattern(watch: tuple[str, ...]) -> re.Pattern[str] | None:
    globs = [g for g in watch if any(ch in g for ch in "*?[")]
    if not globs:
        return None
    return re.compile("|".join(f"(?:{fnmatch.translate(g)})" for g in globs))


def _threshold(
    reader: Reader,
    entries: Mapping[str, tuple[Node, Node]],
    table: TableInfo,
    watch: tuple[str, ...] | None,
) -> Threshold | None:
    if "threshold" not in entries:
        return None
    watched = None if watch is None else _expand(watch, table)
    return compile_threshold(reader, entries["threshold"][1], table, watched=watched)


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
