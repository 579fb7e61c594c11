"""Payload mappings: how a notification's payload is filled, checked against its schema at load.

    payload:
      PartNo: row.PartNo              # a reference (see ``rules.context``)
      EntityChanged: setting.table
      Source: {value: "erp.import"}   # a literal that would otherwise read as a reference
      Channel: webshop                # any other scalar is a literal

``ClientId`` and ``ApplicationId`` come from the project constants unless mapped. At load time
every target must be a property of the type's schema, every required property must be mapped,
and each source must be able to produce a value the property accepts (by JSON type, and for
literals, constants and ``setting.*`` by the property's whole schema). A source field that is
absent at run time leaves its property out; the compiled validator then catches what is still
wrong before anything is stored.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from deltahook.catalog import schema_cache
from deltahook.catalog.events import EventType
from deltahook.changes.model import MISSING
from deltahook.rules.context import SCOPES, Ctx, Getter, constant, parse_ref, resolve
from deltahook.rules.source import Node, Reader, suggest, value_of
from deltahook.rules.tables import TableInfo, Types, json_types
from deltahook.yamlnodes import is_mapping

DEFAULTED = ("ClientId", "ApplicationId")
_LOOKS_LIKE_REF = re.compile(r"^[A-Za-z_]+\.[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True, slots=True)
class Source:
    """One payload entry as written: a reference or a literal, and where it was written."""

    target: str
    node: Node
    ref: str | None
    literal: Any = None
    broken: bool = False  # wrong as written (already reported): counts as mapped, never built


@dataclass(frozen=True, slots=True)
class Payload:
    """A compiled mapping: ``build`` fills a payload from one row change."""

    fields: tuple[tuple[str, Getter], ...]
    needs_parent: bool

    def build(self, ctx: Ctx) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, getter in self.fields:
            value = getter(ctx)
            if value is not MISSING:
                out[name] = value
        return out


def read_sources(reader: Reader, node: Node) -> dict[str, Source] | None:
    """The entries of a ``payload:`` mapping, checked for shape only."""
    entries = reader.mapping(node, "payload")
    if entries is None:
        return None
    out: dict[str, Source] = {}
    for target, (_key, value_node) in entries.items():
        source = _source(reader, target, value_node)
        out[target] = source or Source(target, value_node, None, broken=True)
    return out


def _source(reader: Reader, target: str, node: Node) -> Source | None:
    if is_mapping(node):
        return _literal(reader, target, node)
    ok, value = reader.scalar(node, f"payload {target}")
    if not ok:
        return None
    if isinstance(value, str) and _LOOKS_LIKE_REF.match(value):
        if parse_ref(value) is None:
            scope = value.partition(".")[0]
            reader.error(
                node,
                f"payload {target}: unknown reference scope {scope!r}{suggest(scope, SCOPES)}; "
                "write {value: ...} for a literal",
            )
            return None
        return Source(target, node, value)
    return Source(target, node, None, value)


def _literal(reader: Reader, target: str, node: Node) -> Source | None:
    """``{value: ...}``: a literal, even one that looks like a reference."""
    entries = reader.mapping(node, f"payload {target}", allowed=("value",), required=("value",))
    if entries is None or "value" not in entries:
        return None
    literal = value_of(entries["value"][1])
    if not _finite(literal):
        reader.error(entries["value"][1], f"payload {target}: a number must be finite")
        return None
    return Source(target, node, None, literal)


def _finite(value: Any) -> bool:
    """False when a literal holds NaN or an infinity anywhere (JSON has neither)."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(_finite(v) for v in value)
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    return True


def compile_payload(
    reader: Reader,
    anchor: Node,
    sources: Mapping[str, Source],
    *,
    event: EventType,
    table: TableInfo,
    constants: Mapping[str, Any],
    setting: Mapping[str, str],
) -> Payload | None:
    """Check ``sources`` against ``event``'s schema for rows of ``table``; compile them."""
    props: Mapping[str, Any] = event.schema.get("properties", {})
    closed = event.schema.get("additionalProperties") is False
    fields: list[tuple[str, Getter]] = []
    needs_parent = False
    ok = True
    for target, source in sorted(sources.items()):
        if source.broken:
            ok = False
            continue
        if closed and target not in props:
            reader.error(
                source.node,
                f"{event.name} has no property {target!r}{suggest(target, props)}",
            )
            ok = False
            continue
        getter = _compile_source(reader, source, props.get(target), table, constants, setting)
        if getter is None:
            ok = False
            continue
        needs_parent = needs_parent or (source.ref or "").startswith("parent.")
        fields.append((target, getter))
    mapped = {name for name, _ in fields} | set(sources)
    for name in DEFAULTED:
        if name in props and name not in mapped and name in constants:
            fields.append((name, constant(constants[name])))
            mapped.add(name)
    missing = [name for name in event.schema.get("required", []) if name not in mapped]
    if missing:
        reader.error(
            anchor,
            f"payload of {event.name} for {setting['table']} does not map required "
            f"propert{'y' if len(missing) == 1 else 'ies'} {', '.join(missing)}",
        )
        ok = False
    return Payload(tuple(sorted(fields)), needs_parent) if ok else None


def constants_problem(events: Iterable[EventType], constants: Mapping[str, Any]) -> str | None:
    """Why a constant that fills every payload having it (``DEFAULTED``) is refused by the
    first event type that has it, or None: such a constant fails every payload at run time."""
    for name in DEFAULTED:
        for event in events if name in constants else ():
            spec = event.schema.get("properties", {}).get(name)
            if isinstance(spec, dict) and (found := _first_problem(spec, constants[name])):
                return f"constants: {name}: {found} (in {event.name} and every payload with it)"
    return None


def _compile_source(
    reader: Reader,
    source: Source,
    spec: Any,
    table: TableInfo,
    constants: Mapping[str, Any],
    setting: Mapping[str, str],
) -> Getter | None:
    where = f"payload {source.target}"
    if source.ref is None:
        return _fixed(reader, source.node, where, source.literal, spec)
    ref = parse_ref(source.ref)
    assert ref is not None
    found = resolve(ref, table, constants=constants, setting=setting)
    if isinstance(found, str):
        reader.error(source.node, f"{where}: {found}")
        return None
    getter, types = found
    if ref.scope in {"const", "setting"}:
        known = constants if ref.scope == "const" else setting
        return _fixed(reader, source.node, where, known[ref.name], spec)
    return getter if _types_fit(reader, source, types, spec) else None


def _fixed(reader: Reader, node: Node, where: str, value: Any, spec: Any) -> Getter | None:
    """A value known at load time, checked against the property's whole schema."""
    if isinstance(spec, dict):
        problem = _first_problem(spec, value)
        if problem is not None:
            reader.error(node, f"{where}: {value!r} is not accepted: {problem}")
            return None
    return constant(value)


def _first_problem(spec: dict[str, Any], value: Any) -> str | None:
    """jsonschema's first message about ``value`` under ``spec``; an acceptance is kept on disk
    (``schema_cache``), so a warm start neither imports jsonschema nor checks again."""
    accepted = schema_cache.voucher("draft7-accepts", spec, value)
    if schema_cache.vouched(accepted):
        return None
    import jsonschema

    problem = next(iter(jsonschema.Draft7Validator(spec).iter_errors(value)), None)
    if problem is None:
        schema_cache.vouch(accepted)
        return None
    return str(problem.message)


def _types_fit(reader: Reader, source: Source, types: Types, spec: Any) -> bool:
    if not isinstance(spec, dict) or "type" not in spec:
        return True
    if types & json_types(spec):
        return True
    declared = spec["type"] if isinstance(spec["type"], str) else " or ".join(spec["type"])
    reader.error(
        source.node,
        f"payload {source.target} needs {declared} but {source.ref} holds "
        f"{' or '.join(sorted(types - {'number'} if 'integer' in types else types))}",
    )
    return False
