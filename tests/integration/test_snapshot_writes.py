"""snapshotwrites.write updating stored entities, on both databases: each new value stored, and
nothing written when one of them moved on since it was read."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from deltahook.errors import ConflictError
from deltahook.store import snapshotwrites
from deltahook.store.db import SQLITE_LOAD_CACHE_KIB, open_engine
from deltahook.store.snapshotwrites import SnapshotWrite
from deltahook.store.tables import entities

BEFORE = datetime(2024, 5, 6, tzinfo=UTC)
NOW = datetime(2024, 5, 7, tzinfo=UTC)


def _write(key: str, version: int, **fields: object) -> SnapshotWrite:
    values: dict[str, object] = {
        "parent_key": f"parent of {key}",
        "scope": "S1",
        "hash": f"hash of {key}".encode(),
        "body": b'{"a": "\\\\ \\" ,{}"}',
        "line_hash": None,
    }
    return SnapshotWrite(key=key, version=version, **(values | fields))  # type: ignore[arg-type]


def _stored(url: str) -> dict[str, tuple[object, ...]]:
    engine = open_engine(url)
    try:
        with engine.connect() as conn:
            columns = [entities.c[name] for name in ("key", "parent_key", "scope", "hash")]
            columns += [entities.c[name] for name in ("body", "version", "line_hash", "job_id")]
            return {row[0]: tuple(row[1:]) for row in conn.execute(select(*columns))}
    finally:
        engine.dispose()


def _store(url: str, writes: list[SnapshotWrite], *, now: datetime, **options: bool) -> None:
    engine = open_engine(url)
    try:
        with engine.begin() as conn:
            snapshotwrites.write(conn, "sku", writes, now=now, job_id=f"job {now.day}", **options)
    finally:
        engine.dispose()


@pytest.mark.parametrize("refs_follow_key", [False, True])
def test_changed_entities_get_every_new_value(database_url: str, refs_follow_key: bool) -> None:
    """Hash, body (any bytes), line hash (or none), version and job are replaced, and parent key
    and scope where they can change (they cannot when the kind's references follow its key)."""
    _store(database_url, [_write(k, 0, line_hash=b"old") for k in ("A", "B")], now=BEFORE)
    a, b = ("parent of A", "S1"), ("parent of B", "S1")
    if not refs_follow_key:
        a, b = ("P", "S2"), (None, "S1")
    changed = [
        _write("A", 1, parent_key=a[0], scope=a[1], hash=b"\x00\\", body=b"\x00{x}"),
        _write("B", 1, parent_key=b[0], scope=b[1], hash=b"new", line_hash=b'\\x"'),
    ]
    _store(database_url, changed, now=NOW, refs_follow_key=refs_follow_key)
    stored = _stored(database_url)
    assert stored["A"] == (*a, b"\x00\\", b"\x00{x}", 2, None, "job 7")
    assert stored["B"] == (*b, b"new", _write("B", 1).body, 2, b'\\x"', "job 7")


def test_nothing_is_written_when_one_entity_moved_on(database_url: str) -> None:
    """A batch naming a version that is no longer stored is refused whole (ConflictError, which
    the ingest retries), and leaves every entity as it was."""
    _store(database_url, [_write(k, 0) for k in ("A", "B")], now=BEFORE)
    before = _stored(database_url)
    with pytest.raises(ConflictError):
        _store(database_url, [_write("A", 1, hash=b"x"), _write("B", 7, hash=b"y")], now=NOW)
    assert _stored(database_url) == before


def test_a_load_of_new_entities_widens_its_sqlite_connections_page_cache(tmp_path: Path) -> None:
    """A write of at least ``LOAD_ROWS`` new entities raises its connection's page cache to
    ``SQLITE_LOAD_CACHE_KIB`` (SQLite's own 2 MiB default until then), for as long as the
    pooled connection lives; a smaller write leaves the cache as it is."""
    engine = open_engine(f"sqlite:///{tmp_path / 'store.db'}")
    cache = "PRAGMA cache_size"
    try:
        with engine.begin() as conn:
            default = conn.exec_driver_sql(cache).scalar()
            snapshotwrites.write(conn, "sku", [_write("small", 0)], now=NOW, job_id="j")
            assert conn.exec_driver_sql(cache).scalar() == default
            load = [_write(f"K{i:05}", 0) for i in range(snapshotwrites.LOAD_ROWS)]
            snapshotwrites.write(conn, "sku", load, now=NOW, job_id="j")
        with engine.connect() as conn:
            assert conn.exec_driver_sql(cache).scalar() == -SQLITE_LOAD_CACHE_KIB
    finally:
        engine.dispose()
    assert default == -2000


def test_reline_stores_new_line_hashes_only_of_entities_as_they_were_read(
    database_url: str,
) -> None:
    """``reline`` replaces the line hash of each entity still at the version read and nothing
    else; one another job rewrote since keeps that job's line (its content is no longer the one
    the new line holds)."""
    _store(database_url, [_write(k, 0, line_hash=b"old") for k in ("A", "B", "C")], now=BEFORE)
    before = _stored(database_url)
    engine = open_engine(database_url)
    try:
        with engine.begin() as conn:
            snapshotwrites.reline(conn, "sku", {"A": (b"new A", 1), "B": (b"new B", 7)})
    finally:
        engine.dispose()
    after = _stored(database_url)
    assert {k: row[5] for k, row in after.items()} == {"A": b"new A", "B": b"old", "C": b"old"}
    assert {k: row[:5] + row[6:] for k, row in after.items()} == {
        k: row[:5] + row[6:] for k, row in before.items()
    }
