"""Looking stored rows up by many values at once (``lookups.one_of``), on both databases."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, insert, select

from deltahook.store.db import open_engine
from deltahook.store.lookups import IN_CHUNK, one_of
from deltahook.store.tables import entities

NOW = datetime(2024, 5, 6, tzinfo=UTC)
# Bytes an array's text form must not misread: quotes, backslashes, delimiters, braces, spaces,
# the word NULL, a NUL byte, the empty value and the high bytes.
AWKWARD = [b'"', b"\\", b"\\\\x00", b",", b"{}", b" a b ", b"NULL", b"\x00", b"", bytes(range(256))]


def _entity(number: int, line_hash: bytes) -> dict[str, object]:
    return {
        "kind": "sku",
        "key": f"K{number}",
        "parent_key": None,
        "scope": "",
        "hash": b"h",
        "body": b"{}",
        "version": 1,
        "created_at": NOW,
        "updated_at": NOW,
        "job_id": None,
        "line_hash": line_hash,
    }


def test_one_of_finds_exactly_the_rows_holding_the_given_bytes(database_url: str) -> None:
    """Every stored value asked for is found and nothing else, whatever bytes it holds, in one
    condition per IN_CHUNK values."""
    plain = [n.to_bytes(16, "big") for n in range(IN_CHUNK + 5)]
    stored = AWKWARD + plain
    asked = [*AWKWARD[::2], *plain[1:], b"never stored", b"\\x6e6576"]
    engine = open_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(insert(entities), [_entity(n, h) for n, h in enumerate(stored)])
        with engine.connect() as conn:
            found = [
                value
                for condition in one_of(conn, entities.c.line_hash, asked)
                for value in conn.execute(select(entities.c.line_hash).where(condition)).scalars()
            ]
    finally:
        engine.dispose()
    assert sorted(found) == sorted([*AWKWARD[::2], *plain[1:]])


def test_one_of_nothing_finds_nothing(database_url: str) -> None:
    """An empty list of values matches no row."""
    engine = open_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(insert(entities), [_entity(0, b""), _entity(1, b"x")])
        with engine.connect() as conn:
            found = [
                value
                for condition in one_of(conn, entities.c.line_hash, [])
                for value in conn.execute(select(entities.c.line_hash).where(condition)).scalars()
            ]
    finally:
        engine.dispose()
    assert found == []


def test_on_postgresql_the_values_reach_the_planner_as_one_constant(pg_url: str) -> None:
    """The planner sees the array as a constant, which a sequential scan hashes once, not as a
    cast it would evaluate again for every row it reads (a first load into an empty store scans
    the table until it has statistics)."""
    engine = open_engine(pg_url)

    @event.listens_for(engine, "before_cursor_execute", retval=True)
    def _explain(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> Any:
        return f"EXPLAIN (VERBOSE) {statement}", params

    try:
        with engine.connect() as conn:
            (condition,) = one_of(conn, entities.c.line_hash, [b"a", b"\\"])
            plan = "\n".join(conn.execute(select(entities.c.key).where(condition)).scalars())
    finally:
        engine.dispose()
    assert """line_hash = ANY ('{"\\\\x61","\\\\x5c"}'::bytea[])""" in plan, plan
