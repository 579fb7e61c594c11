"""Compiling a setting's amounts: its ``threshold`` and its ``breakpoint``.

Both name numeric fields of the setting's table, checked against the entity schema, and both
take ``boundary: inclusive`` (the default: the threshold value itself counts) or ``strict``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

from deltahook.rules.model import Boundary, Breakpoint, Direction, Threshold
from deltahook.rules.source import Node, Reader, suggest
from deltahook.rules.tables import TableInfo

_BREAKPOINT_KEYS = (
    "field",
    "threshold",
    "direction",
    "boundary",
    "on_first_sight",
    "rearm_band",
)
_BOUNDARIES = ("inclusive", "strict")


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


def compile_threshold(
    reader: Reader, node: Node, table: TableInfo, *, watched: frozenset[str] | None
) -> Threshold | None:
    """A setting's ``threshold:`` (its field must be one of ``watched``, when known)."""
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
    if watched is not None and name not in watched:
        reader.error(spec["field"][1], f"threshold field {name!r} is not watched by this setting")
        return None
    return Threshold(field=name, abs=amounts.get("abs"), pct=amounts.get("pct"), boundary=boundary)


def compile_breakpoint(reader: Reader, node: Node, table: TableInfo) -> Breakpoint | None:
    """A setting's ``breakpoint:``."""
    spec = reader.mapping(
        node, "breakpoint", allowed=_BREAKPOINT_KEYS, required=("field", "threshold")
    )
    if spec is None or "field" not in spec or "threshold" not in spec:
        return None
    name = _numeric_field(reader, spec["field"][1], table, "breakpoint field")
    number, limit_field = _limit(reader, spec["threshold"][1], table)
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


def _limit(reader: Reader, node: Node, table: TableInfo) -> tuple[float | None, str | None]:
    """The breakpoint's threshold: (a number, None) or (None, a numeric field of the row)."""
    ok, limit = reader.scalar(node, "breakpoint threshold")
    if isinstance(limit, str):
        return None, _numeric_field(reader, node, table, "breakpoint threshold")
    return (reader.number(node, "breakpoint threshold") if ok else None), None


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
