"""Snapshot writes, batched by key: new entities inserted, changed ones updated (each refused
when another job moved it on since it was read), line hashes stored anew, entities removed.

The reads are in ``snapshots``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, bindparam, delete

from deltahook.errors import ConflictError
from deltahook.store.bulk import bind_processor, insert_columns
from deltahook.store.db import widen_cache
from deltahook.store.tables import entities

# New entities in one write that make it a load: its connection caches more pages (db.py).
LOAD_ROWS = 1_000


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


def _update_statement(columns: dict[str, str], *, stamped: bool = True) -> str:
    """The ``UPDATE`` of ``_update_postgresql`` with arrays of ``columns`` (name: type); not
    ``stamped``, it leaves version, ``updated_at`` and ``job_id`` be (``reline``'s)."""
    new = ", ".join(f'"{name}" = v."{name}"' for name in columns if name not in ("key", "version"))
    if stamped:
        new += ", version = v.version + 1, updated_at = %s, job_id = %s"
    arrays = ", ".join(f"%b::{type_}[]" for type_ in columns.values())
    names = ", ".join(f'"{name}"' for name in columns)
    return (
        f"UPDATE entities SET {new} "
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


_RELINE_POSTGRESQL = _update_statement(
    {"key": "VARCHAR", "line_hash": "BYTEA", "version": "INTEGER"}, stamped=False
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


def _new_columns(new: Sequence[SnapshotWrite]) -> dict[str, list[Any]]:
    """The rows of new entities column by column (the columns all of them share aside)."""
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
