"""Related-entity fan-out: a setting on a shared entity's table that notifies its referrers.

A setting with ``fan_out: sku`` on ``tClientManufacturer`` is tested against the
manufacturer's row change like any other (operations, watched fields, filter, threshold); when
it says yes, every SKU whose schema-declared reference names that manufacturer gets the
notification, its payload built with the SKU's key fields readable as ``row.PartNo``. The
SKUs' keys are read from the store a page at a time (``store.refs``) and each page's
notifications are recorded before the next page is read: memory holds one page, never the
SKUs' snapshots.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from deltahook.rules.context import Ctx
from deltahook.rules.source import Node, Reader
from deltahook.rules.tables import TableInfo, Types
from deltahook.store import refs

if TYPE_CHECKING:
    from deltahook.rules.grouping import Hit


@dataclass(frozen=True, slots=True, kw_only=True)
class FanOut:
    """Which kind a setting notifies instead of the changed entity, and that kind's key."""

    kind: str
    key: tuple[str, ...]
    integers: frozenset[str]  # key fields whose values are integers (keys are stored as text)

    def key_values(self, text: str) -> dict[str, Any]:
        """The key fields of one referrer, from its stored key string."""
        parts = _split_key(text) if len(self.key) > 1 else [text]
        return {
            name: int(part) if name in self.integers and _is_int(part) else part
            for name, part in zip(self.key, parts, strict=False)
        }


def fan_out_table(reader: Reader, node: Node, table: TableInfo) -> tuple[TableInfo, FanOut] | None:
    """The table as a fan-out setting sees it (the referrer's key fields readable as row
    fields), or None after recording why ``fan_out`` cannot name that kind."""
    name = reader.string(node, "fan_out")
    if name is None:
        return None
    key = table.referrers.get(name)
    if key is None:
        known = ", ".join(sorted(table.referrers))
        which = f"kinds that do: {known}" if known else "no kind does"
        reader.error(node, f"fan_out: {name!r} does not reference {table.kind!r} ({which})")
        return None
    seen = dict(table.key_fields) | dict(key)
    fan = FanOut(
        kind=name, key=tuple(key), integers=frozenset(k for k, t in key.items() if _int(t))
    )
    return replace(table, key_fields=seen), fan


def _int(types: Types) -> bool:
    return "integer" in types and "string" not in types


def _is_int(text: str) -> bool:
    return text.lstrip("-").isdigit()


def _split_key(text: str) -> list[str]:
    """The parts of a ``key_string`` (``|``-separated, ``\\`` escapes ``|`` and itself)."""
    parts, current, escaped = [], [], False
    for ch in text:
        if escaped:
            current.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == "|":
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


def referrer_hits(conn: Connection, hit: Hit, *, page: int) -> Iterator[list[Hit]]:
    """The hit once per referrer of the changed entity, a page of referrers at a time."""
    from deltahook.rules.grouping import Hit

    setting, ctx = hit.setting, hit.ctx
    fan = setting.fan_out
    assert fan is not None
    via = {"kind": ctx.change.kind, "key": ctx.change.key}
    for keys in refs.referrers(conn, fan.kind, ctx.change.kind, ctx.change.key, page=page):
        out = []
        for key in keys:
            row = replace(ctx.row, key=dict(ctx.row.key) | fan.key_values(key))
            reached = Ctx(ctx.change, row, ctx.entity, ctx.parent)
            extra = hit.extra | {"via": via, "referrer": {"kind": fan.kind, "key": key}}
            out.append(Hit(setting, reached, hit.fields, extra))
        yield out
