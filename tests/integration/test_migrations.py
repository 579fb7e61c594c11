"""Migrations: they build exactly the tables the code defines, and old schemas are refused."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner
from sqlalchemy import Connection, create_engine, event, insert, inspect, select, text

from deltahook.cli import main
from deltahook.errors import SchemaAheadError, SchemaBehindError
from deltahook.store import jobs, schema
from deltahook.store.db import open_engine
from deltahook.store.tables import deliveries, entity_refs, metadata, notifications

NOW = datetime(2026, 11, 30, tzinfo=UTC)


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


def test_a_database_a_newer_deltahook_made_is_refused_and_not_migrated(database_url: str) -> None:
    """A revision no migration here declares: opening the store says a newer deltahook made it
    (not "run db upgrade", which cannot help), and `db upgrade` says the same in one line
    instead of Alembic's traceback."""
    open_engine(database_url).dispose()
    raw = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://"))
    with raw.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999_from_the_future'"))
    raw.dispose()
    with pytest.raises(SchemaAheadError, match=r"9999_from_the_future.*a newer deltahook"):
        open_engine(database_url)
    upgraded = CliRunner().invoke(main, ["--database-url", database_url, "db", "upgrade"])
    assert upgraded.exit_code == 1
    assert upgraded.output.startswith("error: the database schema is at revision 9999_")
    assert upgraded.output.count("\n") == 1, upgraded.output


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


def test_upgrading_a_store_with_notifications_keeps_them_and_indexes_them_by_entity(
    database_url: str,
) -> None:
    """0014 indexes the notifications a store already holds by entity; nothing is lost."""
    now = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    engine = open_engine(database_url, check_schema=False)
    try:
        with engine.begin() as conn:
            command.upgrade(schema._config(conn), "0013")
            conn.execute(insert(notifications), [_notification(i, now) for i in range(3)])
            conn.execute(insert(deliveries), [_delivery(i, now) for i in range(3)])
        assert schema.upgrade(engine) == ("0013", schema.head())
        with engine.connect() as conn:
            indexes = {
                ix["name"]: ix["column_names"] for ix in inspect(conn).get_indexes("notifications")
            }
            kept = conn.execute(select(notifications.c.id).order_by(notifications.c.id)).scalars()
            queued = conn.execute(select(deliveries.c.notification_id)).scalars().all()
            assert list(kept) == ["n-0", "n-1", "n-2"]
    finally:
        engine.dispose()
    assert indexes["ix_notifications_entity_kind_entity_key_created_at"] == [
        "entity_kind",
        "entity_key",
        "created_at",
    ]
    assert sorted(queued) == ["n-0", "n-1", "n-2"]


def _notification(i: int, now: datetime) -> dict[str, object]:
    return {
        "id": f"n-{i}",
        "type": "SkuChangedNotification",
        "family": "notification",
        "entity_kind": "sku",
        "entity_key": f"SKU-{i}",
        "job_id": None,
        "idempotency_key": None,
        "created_at": now,
        "payload": b"{}",
        "explanation": None,
    }


def _delivery(i: int, now: datetime) -> dict[str, object]:
    return {
        "id": f"d-{i}",
        "notification_id": f"n-{i}",
        "subscription": "webshop",
        "event_type": "SkuChangedNotification",
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
        "updated_at": now,
    }


def test_upgrading_a_store_with_jobs_indexes_them_by_kind(database_url: str) -> None:
    """A store at the revision before 0015, holding a job, upgrades: the job is kept and
    ``ingest_jobs`` gets its index on kind (the line index's freshness check reads by kind)."""
    engine = open_engine(database_url, check_schema=False)
    try:
        with engine.begin() as conn:
            command.upgrade(schema._config(conn), "0014")
            jobs.start(conn, job_id="j1", kind="sku", mode="full", source="-", now=NOW)
        assert schema.upgrade(engine)[1] == schema.head()
        with engine.connect() as conn:
            indexes = {
                i["name"]: i["column_names"] for i in inspect(conn).get_indexes("ingest_jobs")
            }
            found = jobs.find(conn, "j1")
    finally:
        engine.dispose()
    assert indexes["ix_ingest_jobs_kind"] == ["kind"]
    assert found is not None
    assert found["kind"] == "sku"


def test_upgrading_a_store_with_jobs_indexes_them_by_status_and_start(database_url: str) -> None:
    """0017 indexes the jobs a store holds by status and by start time; the job is kept, and
    the abandoned-job check and the newest-jobs list read those indexes, not the table."""
    engine = open_engine(database_url, check_schema=False)
    try:
        with engine.begin() as conn:
            command.upgrade(schema._config(conn), "0016")
            jobs.start(conn, job_id="j1", kind="sku", mode="full", source="-", now=NOW)
        assert schema.upgrade(engine) == ("0016", schema.head())
        with engine.connect() as conn:
            indexes = {
                i["name"]: i["column_names"] for i in inspect(conn).get_indexes("ingest_jobs")
            }
            plans = _plans(conn)
    finally:
        engine.dispose()
    assert indexes["ix_ingest_jobs_status"] == ["status"]
    assert indexes["ix_ingest_jobs_started_at_id"] == ["started_at", "id"]
    assert len(plans) == 2
    assert "ix_ingest_jobs_status" in plans[0]
    assert "ix_ingest_jobs_started_at_id" in plans[1]
    assert "SORT" not in plans[1].upper()
    assert "B-TREE" not in plans[1].upper()


def _plans(conn: Connection) -> list[str]:
    """The query plans of the statements that read ``ingest_jobs`` in the abandoned-job check
    and the newest-jobs list (PostgreSQL told to prefer an index, as on a large table)."""
    seen: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "ingest_jobs" in statement:
            seen.append((statement, params))

    event.listen(conn, "before_cursor_execute", record)
    jobs.abandon_dead(conn, now=NOW, gone=lambda _owner: False)
    jobs.recent(conn, limit=50)
    event.remove(conn, "before_cursor_execute", record)
    explain = "EXPLAIN QUERY PLAN " if conn.dialect.name == "sqlite" else "EXPLAIN "
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET enable_seqscan = off")
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    plans = []
    for statement, params in seen:
        cursor.execute(explain + statement, params)
        plans.append("\n".join(" ".join(map(str, row)) for row in cursor.fetchall()))
    return plans


def test_0018_keeps_a_stores_references_up_and_down(database_url: str) -> None:
    """0018 (entity_refs WITHOUT ROWID on SQLite, no (kind, parent_key) index of entities)
    keeps every reference, the table's name, primary key and index, both ways; afterwards
    nothing differs from the code's metadata."""
    refs = [("manufacturer", "M1", "sku", "S1"), ("manufacturer", "M1", "sku", "S2")]
    refs.append(("manufacturer", "M2", "sku", "S3"))
    engine = open_engine(database_url, check_schema=False)

    def shape(conn: Connection) -> tuple[Any, ...]:
        found = inspect(conn)
        kept = conn.execute(select(entity_refs).order_by(*entity_refs.c)).all()
        indexes = {i["name"]: i["column_names"] for i in found.get_indexes("entity_refs")}
        primary = found.get_pk_constraint("entity_refs")["constrained_columns"]
        by_parent = "ix_entities_kind_parent_key" in {
            i["name"] for i in found.get_indexes("entities")
        }
        return [tuple(row) for row in kept], indexes, primary, by_parent, _rowid(conn)

    try:
        with engine.begin() as conn:
            command.upgrade(schema._config(conn), "0017")
            conn.execute(
                insert(entity_refs), [dict(zip(_REF_COLUMNS, r, strict=True)) for r in refs]
            )
            before = shape(conn)
        with engine.begin() as conn:
            command.upgrade(schema._config(conn), "0018")
            upgraded = shape(conn)
        with engine.begin() as conn:
            command.downgrade(schema._config(conn), "0017")
            downgraded = shape(conn)
        assert schema.upgrade(engine) == ("0017", schema.head())
        with engine.connect() as conn:
            differences = compare_metadata(MigrationContext.configure(conn), metadata)
    finally:
        engine.dispose()
    assert before == (
        refs,
        {"ix_entity_refs_kind_key": ["kind", "key"]},
        list(_REF_COLUMNS),
        True,
        True,
    )
    assert upgraded == (*before[:3], False, database_url.startswith("postgresql"))
    assert downgraded == before
    assert differences == []


_REF_COLUMNS = ("ref_kind", "ref_key", "kind", "key")


def _rowid(conn: Connection) -> bool:
    """Whether ``entity_refs`` has a rowid (a PostgreSQL table always has its own)."""
    if conn.dialect.name != "sqlite":
        return True
    made = conn.exec_driver_sql("SELECT sql FROM sqlite_master WHERE name = 'entity_refs'")
    return "WITHOUT ROWID" not in made.scalar_one()


def test_0019_tunes_autovacuum_on_postgresql_and_leaves_sqlite_as_it_was(
    database_url: str,
) -> None:
    """0019 sets the tables' autovacuum storage parameters on PostgreSQL (entities vacuumed at
    0.5% dead, the queues at 1%) and resets them on the way down; on SQLite the schema is the
    same before and after it, both ways."""
    engine = open_engine(database_url, check_schema=False)
    try:
        with engine.begin() as conn:
            command.upgrade(schema._config(conn), "0018")
            before = _storage(conn)
        with engine.begin() as conn:
            command.upgrade(schema._config(conn), "0019")
            upgraded = _storage(conn)
        with engine.begin() as conn:
            command.downgrade(schema._config(conn), "0018")
            downgraded = _storage(conn)
        assert schema.upgrade(engine) == ("0018", schema.head())
        with engine.connect() as conn:
            differences = compare_metadata(MigrationContext.configure(conn), metadata)
    finally:
        engine.dispose()
    if database_url.startswith("postgresql"):
        assert before == {"entities": {}, "deliveries": {}, "ingest_jobs": {}}
        assert upgraded == {
            "entities": {
                "autovacuum_vacuum_scale_factor": "0.005",
                "autovacuum_vacuum_insert_scale_factor": "0.005",
                "autovacuum_analyze_scale_factor": "0.02",
            },
            "deliveries": {
                "autovacuum_vacuum_scale_factor": "0.01",
                "autovacuum_analyze_scale_factor": "0.02",
            },
            "ingest_jobs": {
                "autovacuum_vacuum_scale_factor": "0.01",
                "autovacuum_analyze_scale_factor": "0.02",
            },
        }
    else:
        assert upgraded == before
    assert downgraded == before
    assert differences == []


def _storage(conn: Connection) -> dict[str, Any]:
    """On PostgreSQL, the storage parameters of the tables 0019 tunes (``pg_class.reloptions``,
    in this connection's schema); on SQLite, every table's and index's ``CREATE`` statement."""
    if conn.dialect.name == "sqlite":
        made = conn.exec_driver_sql("SELECT type, name, sql FROM sqlite_master ORDER BY name")
        return {name: (kind, sql) for kind, name, sql in made}
    found = conn.exec_driver_sql(
        "SELECT relname, reloptions FROM pg_class "
        "WHERE relnamespace = current_schema()::regnamespace "
        "AND relname IN ('entities', 'deliveries', 'ingest_jobs')"
    )
    return {name: dict(o.split("=", 1) for o in options or []) for name, options in found}


def test_processes_starting_at_once_on_an_empty_database_create_its_schema_once(
    database_url: str,
) -> None:
    """Three processes started at once on an empty database (a `serve` and its `deliver`s):
    each opens it, the schema made once; on PostgreSQL all but one failed with 'duplicate key
    value violates unique constraint "pg_type_typname_nsp_index"'."""
    command = [sys.executable, "-m", "deltahook", "--database-url", database_url, "status"]
    started = [
        subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    errors = [process.communicate(timeout=120)[1] for process in started]
    assert [process.returncode for process in started] == [0, 0, 0], errors
