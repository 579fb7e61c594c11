"""Reads made while a writer holds the store: on SQLite a ``reading`` connection reads the last
commit at once, where any other transaction waits for the write lock."""

from __future__ import annotations

import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from sqlalchemy import Connection, event, func, select
from sqlalchemy.exc import OperationalError

from deltahook import job_events
from deltahook.config import Settings
from deltahook.ownership import this_process
from deltahook.results import JobStatus
from deltahook.store import jobs
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


def test_jobs_are_read_beside_a_running_ingest_and_a_dead_one_still_found_abandoned(
    tmp_path: Path,
) -> None:
    """``job_events.fresh`` (the console's jobs pages, ``GET /v1/jobs/{id}``) reads a job whose
    ingest is alive while that ingest holds the write lock; a job whose process is gone is
    marked abandoned first, once the lock is free."""
    engine = open_engine(f"sqlite:///{tmp_path / 'store.db'}")
    event.listen(engine, "connect", lambda dbapi, _record: dbapi.execute("PRAGMA busy_timeout=0"))
    engine.dispose()  # every connection from now on gives up at once on a lock
    now = datetime(2026, 11, 30, tzinfo=UTC)
    settings = Settings(database_url="sqlite://")
    alive, dead = this_process(), f"{socket.gethostname()}:{_ended_pid()}"

    def read(job_id: str) -> tuple[list[str], Any]:
        """The jobs found abandoned on the way, and the job's status."""
        abandoned, status = job_events.fresh(
            engine,
            lambda conn: jobs.find(conn, job_id)["status"],  # type: ignore[index]
            settings=settings,
            events=None,
            now=now,
        )
        return [str(job["job_id"]) for job in abandoned], status

    try:
        with engine.begin() as conn:
            jobs.start(
                conn, job_id="live", kind="sku", mode="full", source="-", now=now, owner=alive
            )
        with engine.begin() as ingest:  # the live job's ingest, writing a batch
            ingest.exec_driver_sql("UPDATE ingest_jobs SET received = 1 WHERE id = 'live'")
            assert read("live") == ([], JobStatus.RUNNING)
        with engine.begin() as conn:
            jobs.start(
                conn, job_id="gone", kind="sku", mode="full", source="-", now=now, owner=dead
            )
        assert read("gone") == (["gone"], JobStatus.ABANDONED)
        assert read("live") == ([], JobStatus.RUNNING)
    finally:
        engine.dispose()


def _ended_pid() -> int:
    """The pid of a process that has ended."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _config(path: Path, store: Path, url: str) -> Path:
    """A config file for ``store`` declaring one subscription, to ``url``."""
    hook = {"name": "shop", "url": url, "event_types": ["SkuChangedNotification"]}
    path.write_text(yaml.safe_dump({"database_url": f"sqlite:///{store}", "subscriptions": [hook]}))
    return path


@pytest.fixture
def locked_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A store with one ingest and the config file's subscription in it, whose write lock
    another connection holds (an ingest writing a batch) while lock waits give up at once."""
    from deltahook.cli import main
    from deltahook.store import db as store_db

    store = tmp_path / "store.db"
    config = _config(tmp_path / "deltahook.yaml", store, "https://shop.example/hook")
    feed = tmp_path / "sku.ndjson"
    feed.write_text('{"PartNo": "P1", "StatusId": 1}\n')
    ingested = CliRunner().invoke(main, ["--config", str(config), "ingest", "sku", str(feed)])
    assert ingested.exit_code == 0, ingested.output
    monkeypatch.setattr(store_db, "SQLITE_BUSY_TIMEOUT_MS", 0)
    writer = sqlite3.connect(store, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("UPDATE ingest_jobs SET received = received")
    try:
        yield config
    finally:
        writer.rollback()
        writer.close()


@pytest.mark.parametrize(
    "command",
    [
        ["log"],
        ["subscriptions", "list"],
        ["rules", "stats"],
        ["types"],
        ["status"],
    ],
    ids=" ".join,
)
def test_commands_that_read_answer_while_another_process_holds_the_write_lock(
    locked_store: Path, command: list[str]
) -> None:
    """A command that only reads answers at once while a writer holds the store: opening it
    (its schema checked, the config file's subscriptions found in sync) and its reads take no
    write lock."""
    from deltahook.cli import main

    shown = CliRunner().invoke(main, ["--config", str(locked_store), *command])
    assert shown.exit_code == 0, shown.output


def test_changed_subscriptions_wait_for_the_lock_and_say_so_in_one_line(locked_store: Path) -> None:
    """A config file whose subscription changed must be written before the command runs: with
    the lock held past the wait allowed, one clear line and exit 1, no traceback."""
    from deltahook.cli import main

    _config(locked_store, locked_store.parent / "store.db", "https://shop.example/hook2")
    runner = CliRunner()
    refused = runner.invoke(main, ["--config", str(locked_store), "log"])
    assert refused.exit_code == 1
    assert "the database stayed locked by another writer" in refused.output
    assert isinstance(refused.exception, SystemExit)  # not the OperationalError


def test_rules_diff_replaying_jobs_past_the_lock_wait_says_so_and_exits_2(
    locked_store: Path,
) -> None:
    """``rules diff --jobs`` replays under the write lock (the rules write their state): held
    by another writer past the wait allowed, it is one clear line and exit 2, as any of its
    errors, not an ``OperationalError`` traceback or exit 1 ("the rule sets differ")."""
    from deltahook.cli import main

    command = ["--config", str(locked_store), "rules", "diff", "rules", "rules", "--jobs", "1"]
    refused = CliRunner().invoke(main, command)
    assert refused.exit_code == 2, refused.output
    assert "the database stayed locked by another writer" in refused.output
    assert isinstance(refused.exception, SystemExit)


def test_replaying_jobs_beside_an_ingest_that_commits_a_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``rules diff --jobs`` replays the logged changes through the rules, which write rule state
    (a breakpoint's) in its transaction, rolled back at the end. Another writer (an ingest's
    batch) trying to commit while it replays does not make it fail: on SQLite a read-only
    transaction that then writes is refused ("database is locked", at once) once another
    connection committed since its first read, so the replay holds the write lock throughout."""
    from deltahook import replay
    from deltahook.engine import Engine
    from tests.integration.test_rules_ingest import ingest, stock

    store = tmp_path / "store.db"
    settings = Settings(database_url=f"sqlite:///{store}", batch_size=2)
    with Engine.from_settings(settings) as engine:
        ingest(engine, "sku_onhand", [stock("P1", 9), stock("P2", 9)])
        ingest(engine, "sku_onhand", [stock("P1", 2), stock("P2", 8)])
        ingest(engine, "sku_onhand", [stock("P1", 9), stock("P2", 1)])
        alone = replay.notifications(engine, last_jobs=2)
        assert alone  # the breakpoint fired, its state was written on the way
        read = replay.changes_by_job

        def then_a_batch_commits(*args: Any, **kwargs: Any) -> Any:
            """The changes read, and another writer commits if it can get the lock at once."""
            changes = read(*args, **kwargs)
            other = sqlite3.connect(store, isolation_level=None, timeout=0)
            try:
                other.execute("BEGIN IMMEDIATE")
                other.execute("UPDATE ingest_jobs SET received = received + 1")
                other.execute("COMMIT")
            except sqlite3.OperationalError:
                pass  # the replay holds the lock: the batch waits for it
            finally:
                other.close()
            return changes

        monkeypatch.setattr(replay, "changes_by_job", then_a_batch_commits)
        beside = replay.notifications(engine, last_jobs=2)
    assert [n.payload for n in beside] == [n.payload for n in alone]
