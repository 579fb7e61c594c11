"""Entity references in the store: written with the snapshots, read a page of keys at a time.

The referencing side (a SKU) writes the (kind, key) pairs its body names whenever its
snapshot is written, in the same transaction; the referenced side (a manufacturer) reads the
keys of the SKUs that name it one page at a time, so fanning a change out to 50,000 SKUs holds
one page of keys in memory, never their snapshots.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import orjson
from sqlalchemy import Connection, bindparam, delete, select

from deltahook.catalog.entities import EntityKind
from deltahook.store.bulk import insert_columns
from deltahook.store.lookups import one_of, sqlite_in
from deltahook.store.tables import entities, entity_refs

Pairs = Mapping[str, set[tuple[str, str]]]  # entity key -> the (kind, key) pairs it names
_SQLITE_STORED = 'SELECT "key", ref_kind, ref_key FROM entity_refs WHERE kind = ? AND "key" IN'


def record(
    conn: Connection,
    kind: EntityKind,
    named: Mapping[str, set[tuple[str, str]] | None],
    *,
    new: set[str],
) -> None:
    """Keep the references of entities just written (the pairs their bodies name, see
    ``EntityKind.referenced``) or removed (None) current.

    A new entity's pairs are inserted; a changed one's replaced, unless every reference is a
    key field (a price row's PriceListCode), which cannot change; a removed one's dropped.
    """
    if not kind.references:
        return
    fixed = all(len(r.path) == 1 and r.path[0] in kind.key for r in kind.references)
    current = {
        key: pairs
        for key, pairs in named.items()
        if pairs is not None and not (fixed and key not in new)
    }
    replace = [k for k, pairs in named.items() if k not in new and (pairs is None or k in current)]
    write(conn, kind.name, current, replace=replace)


def write(conn: Connection, kind: str, named: Pairs, *, replace: Sequence[str]) -> None:
    """Store what each entity of ``kind`` names; the pairs of ``replace`` keys are replaced.

    A rewritten entity's stored pairs are read first and only the difference is written: a
    changed SKU rarely changes what it names, and deleting and inserting all of its pairs
    again was a fifth of writing a nightly feed's changes.
    """
    drop(conn, kind, [key for key in replace if key not in named])
    stored = _stored(conn, kind, sorted(key for key in replace if key in named))
    _forget(conn, kind, [(key, pair) for key, had in stored.items() for pair in had - named[key]])
    keys: list[str] = []
    ref_kinds: list[str] = []
    ref_keys: list[str] = []
    for key in sorted(named):  # a first load writes them by the hundred thousand: no dict per row
        had = stored.get(key)
        for ref_kind, ref_key in sorted(named[key] if had is None else named[key] - had):
            keys.append(key)
            ref_kinds.append(ref_kind)
            ref_keys.append(ref_key)
    columns = {"key": keys, "ref_kind": ref_kinds, "ref_key": ref_keys}
    insert_columns(conn, entity_refs, columns, same={"kind": kind})


def _stored(conn: Connection, kind: str, keys: Sequence[str]) -> dict[str, set[tuple[str, str]]]:
    """The pairs stored for these entities of ``kind`` (every key, an empty set if none)."""
    found: dict[str, set[tuple[str, str]]] = {key: set() for key in keys}
    if not keys:
        return found
    for key, ref_kind, ref_key in _stored_rows(conn, kind, keys):
        found[key].add((ref_kind, ref_key))
    return found


def _stored_rows(conn: Connection, kind: str, keys: Sequence[str]) -> Iterator[Any]:
    """The (key, ref_kind, ref_key) rows of these entities; on SQLite the statement written
    out (SQLAlchemy's expanding of the ``IN`` list of a batch's 1,000 changed keys cost five
    times SQLite's reading of their references)."""
    if conn.dialect.name == "sqlite":
        return sqlite_in(conn, _SQLITE_STORED, kind, keys)
    columns = (entity_refs.c.key, entity_refs.c.ref_kind, entity_refs.c.ref_key)
    return (
        row
        for key_in in one_of(conn, entity_refs.c.key, keys)
        for row in conn.execute(select(*columns).where(entity_refs.c.kind == kind, key_in))
    )


def _forget(conn: Connection, kind: str, pairs: Sequence[tuple[str, tuple[str, str]]]) -> None:
    """Delete these (entity key, (kind, key) named) pairs of entities of ``kind``."""
    if not pairs:
        return
    statement = delete(entity_refs).where(
        entity_refs.c.kind == kind,
        entity_refs.c.key == bindparam("b_key"),
        entity_refs.c.ref_kind == bindparam("b_ref_kind"),
        entity_refs.c.ref_key == bindparam("b_ref_key"),
    )
    rows = [{"b_key": k, "b_ref_kind": rk, "b_ref_key": rkey} for k, (rk, rkey) in sorted(pairs)]
    conn.execute(statement, rows)


def drop(conn: Connection, kind: str, keys: Sequence[str]) -> None:
    """Forget what these entities of ``kind`` named (they were removed)."""
    if not keys:
        return
    for key_in in one_of(conn, entity_refs.c.key, sorted(keys)):
        conn.execute(delete(entity_refs).where(entity_refs.c.kind == kind, key_in))


def referrers(
    conn: Connection, kind: str, ref_kind: str, ref_key: str, *, page: int
) -> Iterator[list[str]]:
    """Keys of the entities of ``kind`` that name ``ref_kind`` ``ref_key``, a page at a time,
    in key order (each page is one indexed range read after the last key of the one before)."""
    query = (
        select(entity_refs.c.key)
        .where(
            entity_refs.c.ref_kind == ref_kind,
            entity_refs.c.ref_key == ref_key,
            entity_refs.c.kind == kind,
        )
        .order_by(entity_refs.c.key)
        .limit(page)
    )
    after: str | None = None
    while True:
        ranged = query if after is None else query.where(entity_refs.c.key > after)
        keys = list(conn.execute(ranged).scalars())
        if keys:
            yield keys
        if len(keys) < page:
            return
        after = keys[-1]


def rebuild(conn: Connection, kind: EntityKind, *, page: int) -> tuple[int, int]:
    """Write the references of every stored entity of ``kind`` again from its snapshot, a page
    of entities per transaction (for snapshots stored before references were kept).

    Returns the entities read and the references written.
    """
    query = (
        select(entities.c.key, entities.c.body)
        .where(entities.c.kind == kind.name)
        .order_by(entities.c.key)
        .limit(page)
    )
    after: str | None = None
    seen = written = 0
    while True:
        ranged = query if after is None else query.where(entities.c.key > after)
        rows = conn.execute(ranged).all()
        named = {key: kind.referenced(orjson.loads(body)) for key, body in rows}
        write(conn, kind.name, named, replace=list(named))
        conn.commit()
        seen += len(rows)
        written += sum(len(pairs) for pairs in named.values())
        if len(rows) < page:
            return seen, written
        after = rows[-1][0]
