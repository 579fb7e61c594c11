"""Reads made while a writer holds the store: on SQLite a ``reading`` connection reads the last
commit at once, where any other transaction waits for the write lock."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Connection, func, select
from sqlalchemy.exc import OperationalError

from deltahook.store.db import open_engine, reading
from deltahook.store.tables import ingest_jobs


def _no_waiting(conn: Connection) -> None:
    """Make ``conn`` give up at once on a lock rather than wait out the busy timeout."""
    conn.connection.dbapi_connection.execute("PRAGMA busy_timeout = 0")  # type: ignore[union-attr]


def test_a_read_does_not_wait_for_a_writer_and_sees_the_last_commit(tmp_path: Path) -> None:
    """With a write transaction open (and a row written in it, not committed), a ``reading``
    connection counts the rows as last committed, while a connection that may write cannot even
    begin: the write lock is taken up front by everything else."""
    engine = open_engine(f"sqlite:///{tmp_path / 'store.db'}")
    count = select(func.count()).select_from(ingest_jobs)
    try:
        with engine.begin() as writer:
            writer.exec_driver_sql(
                "INSERT INTO ingest_jobs (id, kind, mode, source, status, started_at, received, "
                "rejected, duplicates, unchanged, inserted, updated, deleted, notifications, "
                "baseline) VALUES ('j', 'sku', 'full', '-', 'running', '2026-11-30 00:00:00', "
                "0, 0, 0, 0, 0, 0, 0, 0, 0)"
            )
            with reading(engine) as reader:
                _no_waiting(reader)
                assert reader.execute(count).scalar_one() == 0
            with engine.connect() as other:
                _no_waiting(other)
                with pytest.raises(OperationalError, match="locked"):
                    other.execute(count)
        with reading(engine) as reader:
            assert reader.execute(count).scalar_one() == 1
    finally:
        engine.dispose()
