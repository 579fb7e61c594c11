"""Snapshot reads, batched by key: one round trip per batch, never per record.

The writes (insert, update, reline, remove) are in ``snapshotwrites``; the ``IN`` lists and
arrays these reads look values up with, in ``lookups``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, select, tuple_

from deltahook.store.lookups import IN_CHUNK, chunks, one_of, plain, sqlite_in
from deltahook.store.tables import entities


@dataclass(frozen=True, slots=True)
class Stored:
    """What the store holds of one entity: its hash and version, and the body when asked."""

    hash: bytes
    version: int
    body: bytes | None = None


def fetch(
    conn: Connection, kind: str, keys: Sequence[str], *, bodies: bool = False, locked: bool = False
) -> dict[str, Stored]:
    """Stored hash and version (and body) of those ``keys`` that exist; ``locked``: their rows
    locked in key order until the transaction ends (SQLite's transaction holds the file's)."""
    if conn.dialect.name == "sqlite":
        body = ", body" if bodies else ""
        sql = f'SELECT "key", hash, version{body} FROM entities WHERE kind = ? AND "key" IN'
        rows = sqlite_in(conn, sql, kind, keys)
    else:
        rows = _fetch(conn, kind, keys, bodies=bodies, locked=locked)
    if bodies:
        return {row[0]: Stored(row[1], row[2], row[3]) for row in rows}
    return {row[0]: Stored(row[1], row[2]) for row in rows}


def _fetch(
    conn: Connection, kind: str, keys: Sequence[str], *, bodies: bool, locked: bool
) -> Iterator[tuple[Any, ...]]:
    columns = [entities.c.key, entities.c.hash, entities.c.version]
    if bodies:
        columns.append(entities.c.body)
    for key_in in one_of(conn, entities.c.key, keys):
        query = select(*columns).where(entities.c.kind == kind, key_in)
        if locked:  # in the key order writers lock rows in (``snapshotwrites.write``)
            query = query.order_by(entities.c.key).with_for_update()
        yield from plain(conn.execute(query))


def known_lines(
    conn: Connection, kind: str, line_hashes: Sequence[bytes]
) -> dict[bytes, tuple[str, str]]:
    """Key and scope of the stored entities made from feed lines with these hashes, by hash."""
    if conn.dialect.name == "sqlite":
        rows = sqlite_in(conn, _SQLITE_KNOWN_LINES, kind, line_hashes)
    else:
        rows = _known_lines(conn, kind, line_hashes)
    return {line_hash: (key, scope) for line_hash, key, scope in rows}


def _known_lines(
    conn: Connection, kind: str, line_hashes: Sequence[bytes]
) -> Iterator[tuple[Any, ...]]:
    columns = (entities.c.line_hash, entities.c.key, entities.c.scope)
    for hash_in in one_of(conn, entities.c.line_hash, line_hashes):
        yield from plain(conn.execute(select(*columns).where(entities.c.kind == kind, hash_in)))


_SQLITE_KNOWN_LINES = 'SELECT line_hash, "key", scope FROM entities WHERE kind = ? AND line_hash IN'


def keys_in_scope(conn: Connection, kind: str, scopes: Iterable[str] | None) -> Iterator[str]:
    """Keys of the stored entities of ``kind`` within ``scopes`` (None = the whole kind), in
    code-point order on both databases (the sweep from the line index sorts so in Python; a
    PostgreSQL database's own collation, e.g. en_US, would order them otherwise)."""
    by_key = entities.c.key.collate("C") if conn.dialect.name == "postgresql" else entities.c.key
    query = select(entities.c.key).where(entities.c.kind == kind).order_by(by_key)
    if scopes is None:
        yield from (key for (key,) in plain(conn.execute(query)))
        return
    scope_list = sorted(scopes)
    for chunk in chunks(scope_list):
        rows = plain(conn.execute(query.where(entities.c.scope.in_(chunk))))
        yield from (key for (key,) in rows)


def count_in_scope(conn: Connection, kind: str, scopes: Iterable[str] | None) -> int:
    """How many entities of ``kind`` ``keys_in_scope`` yields."""
    query = select(func.count()).select_from(entities).where(entities.c.kind == kind)
    if scopes is None:
        return int(conn.execute(query).scalar_one())
    return sum(
        int(conn.execute(query.where(entities.c.scope.in_(chunk))).scalar_one())
        for chunk in chunks(sorted(scopes))
    )


def scope_chunks(scopes: Iterable[str] | None) -> dict[str, int]:
    """The chunk of ``keys_in_scope`` each scope is read in (its keys come in chunk order)."""
    if scopes is None:
        return {}
    return {scope: at // IN_CHUNK for at, scope in enumerate(sorted(scopes))}


def keys_without_line(
    conn: Connection, kind: str, scopes: Iterable[str] | None
) -> Iterator[tuple[str, str]]:
    """Key and scope of the entities of ``kind`` (within ``scopes``) stored without a line hash."""
    columns = (entities.c.key, entities.c.scope)
    query = select(*columns).where(entities.c.kind == kind, entities.c.line_hash.is_(None))
    if scopes is None:
        yield from plain(conn.execute(query))
        return
    for chunk in chunks(sorted(scopes)):
        yield from plain(conn.execute(query.where(entities.c.scope.in_(chunk))))


def bodies_by_key(
    conn: Connection, pairs: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], bytes]:
    """Bodies of (kind, key) pairs that exist, e.g. the parents of changed entities."""
    found: dict[tuple[str, str], bytes] = {}
    for chunk in chunks(pairs):
        query = select(entities.c.kind, entities.c.key, entities.c.body).where(
            tuple_(entities.c.kind, entities.c.key).in_(chunk)
        )
        for kind, key, body in conn.execute(query):
            found[(kind, key)] = body
    return found


def count(conn: Connection, kind: str | None = None) -> int:
    """How many entities are stored (of ``kind``, or of every kind)."""
    query = select(func.count()).select_from(entities)
    if kind is not None:
        query = query.where(entities.c.kind == kind)
    return int(conn.execute(query).scalar_one())
