"""Snapshot reads and writes, batched by key: one round trip per batch, never per record."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Connection,
    CursorResult,
    Dialect,
    LargeBinary,
    String,
    TypeDecorator,
    and_,
    any_,
    bindparam,
    delete,
    func,
    select,
    tuple_,
)

from deltahook.errors import ConflictError
from deltahook.store.bulk import bind_processor, insert_columns
from deltahook.store.db import widen_cache
from deltahook.store.tables import entities

_T = TypeVar("_T")
_V = TypeVar("_V", str, bytes)

# SQLite allows 32,766 bound parameters per statement; stay well clear of it.
IN_CHUNK = 2_000
_PLAIN_ROWS = 10_000
# New entities in one write that make it a load: its connection caches more pages (db.py).
LOAD_ROWS = 1_000


def chunks(items: Sequence[_T], size: int = IN_CHUNK) -> Iterator[Sequence[_T]]:
    """Consecutive slices of ``items`` small enough for one ``IN (...)`` each."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def one_of(
    conn: Connection, column: ColumnElement[_V], values: Sequence[_V]
) -> Iterator[ColumnElement[bool]]:
    """``column IN values`` as conditions to run one after the other.

    On PostgreSQL one condition with the values in one array parameter (``= ANY(...)``): bound,
    sent and planned as one value rather than thousands (a third of a 1%-changed ingest went
    into expanding ``IN`` lists). Elsewhere ``IN`` lists of ``IN_CHUNK`` values each.
    """
    if conn.dialect.name == "postgresql":
        if isinstance(column.type, LargeBinary):
            yield column == any_(bindparam(None, list(values), type_=_ByteaArray()))
            return
        yield column == any_(bindparam(None, list(values), type_=ARRAY(String)))
        return
    for chunk in chunks(values):
        yield column.in_(chunk)


class _ByteaArray(TypeDecorator[Sequence[bytes | None]]):
    """A list of bytes bound as one ``bytea[]`` parameter written out in its text form.

    psycopg writes a list of bytes as text with a regular-expression escape per element: 5 ms of
    CPU for the 2,000 line hashes of a batch, against 1 ms for this join of their hex forms
    (unquoted elements ``\\\\xHEX``: the array parser reads ``\\\\`` as one backslash). The
    text goes to the server untyped and the statement casts the parameter itself
    (``$1::BYTEA[]``), so the planner sees a constant array, as with psycopg's own: a cast of a
    typed text value would be evaluated again for every row a sequential scan reads.
    """

    impl = ARRAY(LargeBinary)
    cache_ok = True

    def bind_processor(
        self, dialect: Dialect
    ) -> Callable[[Sequence[bytes | None] | None], str | None]:
        def process(values: Sequence[bytes | None] | None) -> str | None:
            if values is None:
                return None
            items = [f"\\\\x{v.hex()}" if v is not None else "NULL" for v in values]
            return "{" + ",".join(items) + "}"

        return process


@dataclass(frozen=True, slots=True)
class Stored:
    """What the store holds of one entity: its hash and version, and the body when asked."""

    hash: bytes
    version: int
    body: bytes | None = None


class SnapshotWrite(NamedTuple):
    """A new snapshot to store; ``version`` is the version it replaces (0 for a new entity).

    A named tuple (built with keywords): a first load makes one per entity, and a frozen
    dataclass's ``__init__`` (one ``object.__setattr__`` a field) took twice as long.
    """

    key: str
    parent_key: str | None
    scope: str
    hash: bytes
    body: bytes
    version: int
    line_hash: bytes | None = None


def fetch(
    conn: Connection, kind: str, keys: Sequence[str], *, bodies: bool = False
) -> dict[str, Stored]:
    """Stored hash and version (and body) of those ``keys`` that exist."""
    if conn.dialect.name == "sqlite":
        body = ", body" if bodies else ""
        sql = f'SELECT "key", hash, version{body} FROM entities WHERE kind = ? AND "key" IN'
        rows = sqlite_in(conn, sql, kind, keys)
    else:
        rows = _fetch(conn, kind, keys, bodies=bodies)
    if bodies:
        return {row[0]: Stored(row[1], row[2], row[3]) for row in rows}
    return {row[0]: Stored(row[1], row[2]) for row in rows}


def _fetch(
    conn: Connection, kind: str, keys: Sequence[str], *, bodies: bool
) -> Iterator[tuple[Any, ...]]:
    columns = [entities.c.key, entities.c.hash, entities.c.version]
    if bodies:
        columns.append(entities.c.body)
    for key_in in one_of(conn, entities.c.key, keys):
        yield from _plain(conn.execute(select(*columns).where(entities.c.kind == kind, key_in)))


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
        yield from _plain(conn.execute(select(*columns).where(entities.c.kind == kind, hash_in)))


_SQLITE_KNOWN_LINES = 'SELECT line_hash, "key", scope FROM entities WHERE kind = ? AND line_hash IN'


def sqlite_in(
    conn: Connection, sql: str, kind: str, values: Sequence[Any]
) -> Iterator[tuple[Any, ...]]:
    """The rows of ``sql`` (ending in ``IN``) for ``kind`` and ``values``, the statement written
    out: SQLAlchemy binds each value of an ``IN`` list on its own, which cost as much again as
    the query (100k line hashes: about 0.2 s)."""
    for chunk in chunks(values):
        yield from _plain(
            conn.exec_driver_sql(f"{sql} ({', '.join('?' * len(chunk))})", (kind, *chunk))
        )


def write(
    conn: Connection,
    kind: str,
    writes: Sequence[SnapshotWrite],
    *,
    now: datetime,
    job_id: str,
    refs_follow_key: bool = False,
) -> None:
    """Insert new entities and update changed ones, refusing to overwrite a newer version."""
    # One key order for every writer, so concurrent ingests lock rows in the same order.
    ordered = sorted(writes, key=lambda w: w.key)
    new = [w for w in ordered if w.version == 0]
    changed = [w for w in ordered if w.version > 0]
    if new:  # a first load inserts by the hundred thousand: straight to the driver
        if len(new) >= LOAD_ROWS:
            widen_cache(conn)
        same = {"kind": kind, "version": 1, "created_at": now, "updated_at": now, "job_id": job_id}
        insert_columns(conn, entities, _new_columns(new), same=same)
    if changed:
        update_rows = _update_postgresql if conn.dialect.name == "postgresql" else _update
        updated = update_rows(conn, kind, changed, now, job_id, refs_follow_key=refs_follow_key)
        _expect_rows(updated, len(changed), kind)


def _update(
    conn: Connection,
    kind: str,
    changed: Sequence[SnapshotWrite],
    now: datetime,
    job_id: str,
    *,
    refs_follow_key: bool,
) -> int:
    """Update changed entities, one parameter tuple each, straight to the driver (SQLite); how
    many rows were updated. SQLAlchemy's ``executemany`` of the same statement built and
    type-processed a dict per row: half the time of the update itself."""
    moved = "" if refs_follow_key else ", parent_key = ?, scope = ?"  # else they cannot change
    sql = (
        "UPDATE entities SET hash = ?, body = ?, version = ?, line_hash = ?, updated_at = ?, "
        f'job_id = ?{moved} WHERE kind = ? AND "key" = ? AND version = ?'
    )
    at = _stamp(conn, now)
    params: list[tuple[Any, ...]]
    if refs_follow_key:
        params = [
            (w.hash, w.body, w.version + 1, w.line_hash, at, job_id, kind, w.key, w.version)
            for w in changed
        ]
    else:
        params = [
            (
                *(w.hash, w.body, w.version + 1, w.line_hash, at, job_id),
                *(w.parent_key, w.scope, kind, w.key, w.version),
            )
            for w in changed
        ]
    return int(conn.exec_driver_sql(sql, params).rowcount)


def _update_postgresql(
    conn: Connection,
    kind: str,
    changed: Sequence[SnapshotWrite],
    now: datetime,
    job_id: str,
    *,
    refs_follow_key: bool,
) -> int:
    """``_update`` as one statement joining the rows to arrays of their new values.

    psycopg sends an ``executemany`` as one statement per row, each parsed and planned by the
    server (no prepared statements, see ``db.open_engine``): this cut a 1%-changed 100k-SKU
    ingest's server CPU by a tenth. The arrays go in psycopg's binary format (``%b``): written
    as text, the server's parsing of a batch's bodies (``array_in``, a character at a time) was
    most of the statement, ~80 ms for 1,000 bodies of 1.2 kB against 5 ms. The arrays are in
    key order, and a nested-loop join over the primary key (the plan for a batch's few rows)
    locks the rows in that order; PostgreSQL promises no order, though, so two ingests
    rewriting the same entities may deadlock, and the batch that loses is retried whole
    (``writing._is_conflict``).
    """
    columns = _UPDATED if refs_follow_key else _UPDATED_MOVED
    arrays = [[getattr(w, name) for w in changed] for name in columns]
    statement = _UPDATE if refs_follow_key else _UPDATE_MOVED
    params = (_stamp(conn, now), job_id, *arrays, kind)
    return int(conn.exec_driver_sql(statement, params).rowcount)


def _stamp(conn: Connection, now: datetime) -> Any:
    """``now`` as the driver takes it for ``updated_at`` (UTC, as ``UTCDateTime`` stores it)."""
    process = bind_processor(entities.c.updated_at.type, conn.dialect)
    return now if process is None else process(now)


def _update_statement(columns: dict[str, str]) -> str:
    """The ``UPDATE`` of ``_update_postgresql`` with arrays of ``columns`` (name: type)."""
    new = ", ".join(f'"{name}" = v."{name}"' for name in columns if name not in ("key", "version"))
    arrays = ", ".join(f"%b::{type_}[]" for type_ in columns.values())
    names = ", ".join(f'"{name}"' for name in columns)
    return (
        f"UPDATE entities SET {new}, version = v.version + 1, updated_at = %s, job_id = %s "
        f"FROM unnest({arrays}) AS v({names}) "
        'WHERE entities.kind = %s AND entities."key" = v."key" AND entities.version = v.version'
    )


# The arrays of ``_update_postgresql``, by column; parent key and scope only where they can
# change (they cannot when the kind's references follow its key).
_UPDATED = {
    "key": "VARCHAR",
    "version": "INTEGER",
    "hash": "BYTEA",
    "body": "BYTEA",
    "line_hash": "BYTEA",
}
_UPDATED_MOVED = _UPDATED | {"parent_key": "VARCHAR", "scope": "VARCHAR"}
_UPDATE = _update_statement(_UPDATED)
_UPDATE_MOVED = _update_statement(_UPDATED_MOVED)


def reline(conn: Connection, kind: str, line_hashes: Mapping[str, tuple[bytes, int]]) -> None:
    """Store the hash of the line each entity was last read from, its snapshot as it is, by key:
    (line hash, the version read). An entity another job rewrote since is left to that job's
    line: its content is no longer the one this line holds.

    An unchanged entity reaches the writer only when its line was not the one stored (a feed
    whose writer reorders keys or spells numbers anew, a store from before line hashes): its
    new line is remembered so that from the next run it is passed over unread again, rather
    than parsed and compared every night for as long as the entity does not change.
    """
    if conn.dialect.name == "postgresql":  # one statement, not one per row (``_update_postgresql``)
        conn.exec_driver_sql(
            _RELINE_POSTGRESQL,
            (
                list(line_hashes),
                [line_hash for line_hash, _ in line_hashes.values()],
                [version for _, version in line_hashes.values()],
                kind,
            ),
        )
        return
    conn.exec_driver_sql(
        'UPDATE entities SET line_hash = ? WHERE kind = ? AND "key" = ? AND version = ?',
        [(line_hash, kind, key, version) for key, (line_hash, version) in line_hashes.items()],
    )


_RELINE_POSTGRESQL = (
    "UPDATE entities SET line_hash = v.line_hash "
    'FROM unnest(%b::VARCHAR[], %b::BYTEA[], %b::INTEGER[]) AS v("key", line_hash, version) '
    'WHERE entities.kind = %s AND entities."key" = v."key" AND entities.version = v.version'
)


def remove(conn: Connection, kind: str, versions: dict[str, int]) -> None:
    """Delete entities, refusing when one has moved on since it was read."""
    if not versions:
        return
    statement = delete(entities).where(
        entities.c.kind == bindparam("b_kind"),
        entities.c.key == bindparam("b_key"),
        entities.c.version == bindparam("b_version"),
    )
    params = [{"b_kind": kind, "b_key": k, "b_version": v} for k, v in sorted(versions.items())]
    _expect_rows(conn.execute(statement, params).rowcount, len(versions), kind)


def keys_in_scope(conn: Connection, kind: str, scopes: Iterable[str] | None) -> Iterator[str]:
    """Keys of the stored entities of ``kind`` within ``scopes`` (None = the whole kind), in
    code-point order on both databases (the sweep from the line index sorts so in Python; a
    PostgreSQL database's own collation, e.g. en_US, would order them otherwise)."""
    by_key = entities.c.key.collate("C") if conn.dialect.name == "postgresql" else entities.c.key
    query = select(entities.c.key).where(entities.c.kind == kind).order_by(by_key)
    if scopes is None:
        yield from (key for (key,) in _plain(conn.execute(query)))
        return
    scope_list = sorted(scopes)
    for chunk in chunks(scope_list):
        rows = _plain(conn.execute(query.where(entities.c.scope.in_(chunk))))
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
        yield from _plain(conn.execute(query))
        return
    for chunk in chunks(sorted(scopes)):
        yield from _plain(conn.execute(query.where(entities.c.scope.in_(chunk))))


def _plain(result: CursorResult[Any]) -> Iterator[tuple[Any, ...]]:
    """The rows of ``result`` as the driver's own tuples, for reads of up to a whole kind.

    SQLAlchemy's row objects cost more than the query itself there; the columns read this way
    are strings and bytes, which both drivers return as they are.
    """
    try:
        while rows := result.cursor.fetchmany(_PLAIN_ROWS):
            yield from rows
    finally:
        result.close()


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
    query = select(func.count()).select_from(entities)
    if kind is not None:
        query = query.where(and_(entities.c.kind == kind))
    return int(conn.execute(query).scalar_one())


def _new_columns(new: Sequence[SnapshotWrite]) -> dict[str, list[Any]]:
    """The rows of new entities column by column (the columns all of them share aside), as
    ``_row`` would make them one by one."""
    return {
        "key": [w.key for w in new],
        "parent_key": [w.parent_key for w in new],
        "scope": [w.scope for w in new],
        "hash": [w.hash for w in new],
        "body": [w.body for w in new],
        "line_hash": [w.line_hash for w in new],
    }


def _expect_rows(actual: int, expected: int, kind: str) -> None:
    if actual != expected:
        raise ConflictError(
            f"{expected - actual} {kind} snapshot(s) changed under this ingest; retrying the batch"
        )
