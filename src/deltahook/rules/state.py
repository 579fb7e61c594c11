"""What rules read from the store: breakpoint state (written only on transitions)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime

from sqlalchemy import Connection, bindparam, insert, select, tuple_, update

from deltahook.changes.canonical import key_string
from deltahook.rules.context import Ctx
from deltahook.store.lookups import chunks
from deltahook.store.tables import rule_state

_CHUNK = 500  # (rule, row key) pairs: two parameters each
StateKey = tuple[str, str]


def row_key(ctx: Ctx) -> str:
    """The stored name of a row: kind, table and the row's full key."""
    return f"{ctx.change.kind}|{ctx.row.table}|{key_string(list(ctx.row.key.values()))}"


def load(conn: Connection, keys: Sequence[StateKey]) -> dict[StateKey, str]:
    """The stored state of those (setting uid, row key) pairs that have one."""
    found: dict[StateKey, str] = {}
    unique = sorted(set(keys))
    for chunk in chunks(unique, _CHUNK):
        query = select(rule_state.c.rule, rule_state.c.row_key, rule_state.c.state).where(
            tuple_(rule_state.c.rule, rule_state.c.row_key).in_(chunk)
        )
        for rule, key, value in conn.execute(query):
            found[(rule, key)] = value
    return found


def save(
    conn: Connection,
    writes: Mapping[StateKey, str],
    *,
    existing: Collection[StateKey],
    now: datetime,
) -> None:
    """Write new states in the caller's transaction: update stored rows, insert the others."""
    updates = [
        {"b_rule": rule, "b_key": key, "state": value, "updated_at": now}
        for (rule, key), value in writes.items()
        if (rule, key) in existing
    ]
    inserts = [
        {"rule": rule, "row_key": key, "state": value, "updated_at": now}
        for (rule, key), value in writes.items()
        if (rule, key) not in existing
    ]
    if inserts:
        conn.execute(insert(rule_state), inserts)
    if updates:
        statement = (
            update(rule_state)
            .where(
                rule_state.c.rule == bindparam("b_rule"),
                rule_state.c.row_key == bindparam("b_key"),
            )
            .values(state=bindparam("state"), updated_at=bindparam("updated_at"))
        )
        conn.execute(statement, updates)
