"""A job's record tells what it applied: while it runs, when it fails, when another host died."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import Connection, select

from deltahook.config import Settings
from deltahook.engine import Engine
from deltahook.store import jobs
from deltahook.store.tables import ingest_jobs, notifications
from tests.api_support import ndjson, stock_rows
from tests.deciders import FailsOnCall

BATCH = 10
NOW = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    with Engine.from_settings(Settings(database_url=database_url, batch_size=BATCH)) as engine:
        yield engine


def the_job(engine: Engine, job_id: str) -> dict[str, Any]:
    with engine.db.connect() as conn:
        found = jobs.find(conn, job_id)
    assert found is not None
    return found


def test_a_job_that_fails_inside_a_batch_counts_only_what_it_committed(engine: Engine) -> None:
    """The third batch fails and rolls back: the failed job counts the first two, as stored."""
    engine.decider = FailsOnCall(3)
    engine.new_id = lambda: "job-1"
    with pytest.raises(RuntimeError, match="the rules failed"):
        engine.ingest("sku_onhand", io.BytesIO(ndjson(stock_rows(50))), fmt="ndjson")
    job = the_job(engine, "job-1")
    assert job["status"] == "failed"
    assert (job["counts"]["inserted"], job["counts"]["notifications"]) == (2 * BATCH, 0)


def started(conn: Connection, job_id: str, *, owner: str | None, lease: timedelta | None) -> None:
    lease_until = None if lease is None else NOW + lease
    job = {"kind": "sku_onhand", "mode": "upsert", "source": "-", "now": NOW - timedelta(hours=1)}
    jobs.start(conn, job_id=job_id, owner=owner, lease_until=lease_until, **job)


def test_a_job_of_another_host_is_abandoned_once_its_lease_runs_out(engine: Engine) -> None:
    """Another host's process cannot be seen: its job is abandoned only when the lease ran out."""
    with engine.db.begin() as conn:
        started(conn, "expired", owner="elsewhere:41", lease=timedelta(seconds=-1))
        started(conn, "renewed", owner="elsewhere:42", lease=timedelta(minutes=5))
        started(conn, "legacy", owner=None, lease=None)  # recorded before leases: never guessed
        found = jobs.abandon_dead(conn, now=NOW, gone=lambda owner: None)
    assert [job["job_id"] for job in found] == ["expired"]
    with engine.db.connect() as conn:
        statuses = dict(conn.execute(select(ingest_jobs.c.id, ingest_jobs.c.status)).all())
    assert statuses == {"expired": "abandoned", "renewed": "running", "legacy": "running"}


def job_completed_events(engine: Engine) -> dict[str, int]:
    """The StatusId of each stored JobCompletedEvent, by the job it reports."""
    n = notifications.c
    query = select(n.entity_key, n.payload).where(n.type == "JobCompletedEvent")
    with engine.db.connect() as conn:
        return {key: orjson.loads(payload)["StatusId"] for key, payload in conn.execute(query)}


def test_the_next_ingest_reports_an_abandoned_job_as_failed_to_subscribers(
    engine: Engine,
) -> None:
    """An abandoned job gets its JobCompletedEvent (StatusId 3, failed) like any job that ended."""
    with engine.db.begin() as conn:
        started(conn, "dead", owner="elsewhere:41", lease=timedelta(days=-1))
    result = engine.ingest("sku_onhand", io.BytesIO(ndjson(stock_rows(1))), fmt="ndjson")
    assert job_completed_events(engine) == {"dead": 3, result.job_id: 2}
