"""Migrations: they build exactly the tables the code defines, and old schemas are refused."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner
from sqlalchemy import create_engine

from deltahook.cli import main
from deltahook.errors import SchemaBehindError
from deltahook.store import schema
from deltahook.store.db import open_engine
from deltahook.store.tables import metadata


def test_migrations_produce_exactly_the_tables_of_the_code(database_url: str) -> None:
    """After upgrading an empty database, nothing differs from the code's metadata."""
    engine = open_engine(database_url)
    try:
        with engine.connect() as conn:
            differences = compare_metadata(MigrationContext.configure(conn), metadata)
            assert schema.current(conn) == schema.head()
    finally:
        engine.dispose()
    assert differences == []


def test_a_database_behind_the_code_is_refused(database_url: str) -> None:
    """Tables without the current revision mean an older deltahook made them: refuse to run."""
    raw = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://"))
    metadata.tables["entities"].create(raw)
    raw.dispose()
    with pytest.raises(SchemaBehindError, match="run `deltahook db upgrade`"):
        open_engine(database_url)


def test_db_upgrade_command_reports_what_it_did(database_url: str) -> None:
    """`deltahook db upgrade` creates the schema once and then says it is current."""
    runner = CliRunner()
    first = runner.invoke(main, ["--database-url", database_url, "db", "upgrade"])
    assert first.exit_code == 0, first.output
    assert f"upgraded from empty to {schema.head()}" in first.output
    second = runner.invoke(main, ["--database-url", database_url, "db", "upgrade"])
    assert f"already at revision {schema.head()}" in second.output


def test_the_newest_revision_is_read_from_the_files_as_alembic_reads_it() -> None:
    """``schema.newest()`` (no Alembic import) names the head Alembic's script directory finds."""
    assert schema.newest() == schema.head()
