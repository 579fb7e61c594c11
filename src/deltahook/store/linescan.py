"""Reading one kind's stored line hashes for a ``LineIndex``: in hash order, each with its
entity's key (and scope), in the caller's transaction.

``rows`` reads them row by row, ``ROWS`` at a time (on PostgreSQL through a server-side cursor).
On SQLite, ``ranges`` reads the same sixteen ranges of the hash's first byte at a time, each
column of a range joined into one string by SQLite (``group_concat``): about half the CPU of a
Python row per entity. SQLite does not promise the order of ``group_concat``, and a key or scope
may hold the separator (NUL): the caller checks both, and falls back on ``rows``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import Connection

ROWS = 10_000
_SCAN = (
    'SELECT line_hash, "key"{scope} FROM entities '
    "WHERE kind = ? AND line_hash IS NOT NULL ORDER BY line_hash"
)
_RANGE = (
    "SELECT CAST(group_concat(line_hash, '') AS BLOB), "
    'CAST(group_concat("key", char(0)) AS BLOB){scope}, count(*) FROM entities '
    "WHERE kind = ? AND length(line_hash) = 16 AND line_hash >= ? AND line_hash < ?"
)
_RANGE_SCOPE = ", CAST(group_concat(scope, char(0)) AS BLOB)"
_RANGES = [(bytes([i]), bytes([i + 16]) if i < 240 else b"\xff" * 17) for i in range(0, 256, 16)]
# A range read: 16-byte line hashes one after another, keys and scopes (None for a kind without
# scopes) each separated by NUL, and how many entities it holds.
Range = tuple[bytes, bytes, bytes | None, int]


def rows(conn: Connection, kind: str, *, scoped: bool) -> Iterator[Sequence[tuple[Any, ...]]]:
    """The ``(line_hash, key[, scope])`` rows, ``ROWS`` at a time. On PostgreSQL through a
    server-side cursor in ``conn``'s transaction (a client-side one holds the whole result in
    libpq's memory first): psycopg's own, as SQLAlchemy's ``stream_results`` reads one row ahead
    of its DBAPI cursor."""
    scan = sql(conn, _SCAN.format(scope=", scope" if scoped else ""))
    if conn.dialect.name == "postgresql":
        psycopg: Any = conn.connection.dbapi_connection  # PEP 249 has no named cursors
        with psycopg.cursor(name="deltahook_line_index") as cursor:
            cursor.execute(scan, (kind,))
            while found := cursor.fetchmany(ROWS):
                yield found
        return
    result = conn.exec_driver_sql(scan, (kind,))
    try:
        while found := result.cursor.fetchmany(ROWS):
            yield found
    finally:
        result.close()


def by_ranges(conn: Connection) -> bool:
    """Whether ``ranges`` can read the store: SQLite, whose text is UTF-8 (a key's bytes)."""
    if conn.dialect.name != "sqlite":
        return False
    return bool(conn.exec_driver_sql("PRAGMA encoding").scalar() == "UTF-8")


def ranges(conn: Connection, kind: str, *, scoped: bool) -> Iterator[Range]:
    """The line hashes of 16-byte length, keys and scopes, a range of first bytes at a time
    (the ranges that hold none left out); the order within a range as SQLite joined it."""
    statement = _RANGE.format(scope=_RANGE_SCOPE if scoped else "")
    for low, high in _RANGES:
        *columns, entities = conn.exec_driver_sql(statement, (kind, low, high)).one()
        if entities:
            yield columns[0], columns[1], columns[2] if scoped else None, entities


def sql(conn: Connection, statement: str) -> str:
    """``statement`` in the driver's parameter style (psycopg's ``%s`` on PostgreSQL)."""
    return statement.replace("?", "%s") if conn.dialect.name == "postgresql" else statement
