"""Scratch stores for previews and rule tests: made by the migrations once, then copied from
the disk cache; what the copy holds is what the migrations make."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from deltahook import diskcache
from deltahook.store import schema, scratch
from deltahook.store.db import open_engine
from deltahook.store.tables import metadata


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(diskcache.ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


def no_migrations(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make running the migrations fail, to show a store came from the cache."""

    def refuse(engine: object) -> None:
        raise AssertionError("the migrations ran")

    monkeypatch.setattr(schema, "upgrade", refuse)


def test_the_second_store_is_a_copy_at_the_current_schema(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first store is migrated and kept; the next is copied without migrating, opens as
    current, and holds exactly the code's tables."""
    scratch.make_empty(tmp_path / "first.db")
    assert len(list((cache / "stores").iterdir())) == 1
    no_migrations(monkeypatch)
    scratch.make_empty(tmp_path / "second.db")
    assert (tmp_path / "second.db").read_bytes() == (tmp_path / "first.db").read_bytes()
    engine = open_engine(f"sqlite:///{tmp_path / 'second.db'}")
    try:
        with engine.connect() as conn:
            assert schema.current(conn) == schema.head()
            assert compare_metadata(MigrationContext.configure(conn), metadata) == []
    finally:
        engine.dispose()
    with sqlite3.connect(tmp_path / "second.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_another_sqlite_or_migration_is_another_entry(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The entry is named by what shapes the file: another SQLite version (or migration
    script) finds none and migrates again."""
    scratch.make_empty(tmp_path / "first.db")
    monkeypatch.setattr(scratch.sqlite3, "sqlite_version", "0.0.0")
    no_migrations(monkeypatch)
    with pytest.raises(AssertionError, match="the migrations ran"):
        scratch.make_empty(tmp_path / "second.db")


def test_a_store_is_made_without_a_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a cache folder (no home directory, say) the migrations make every store."""
    monkeypatch.setattr(diskcache, "directory", lambda part: None)
    scratch.make_empty(tmp_path / "store.db")
    engine = open_engine(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        with engine.connect() as conn:
            assert schema.current(conn) == schema.head()
    finally:
        engine.dispose()
