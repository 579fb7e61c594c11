"""A killed ingest's job does not stay 'running': the next ingest or `status` finds it abandoned."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from click.testing import CliRunner
from sqlalchemy import Engine as SqlEngine
from sqlalchemy import func, select

from deltahook.cli import main
from deltahook.config import Settings
from deltahook.engine import Engine
from deltahook.ownership import this_process
from deltahook.store import jobs
from deltahook.store.db import open_engine
from deltahook.store.tables import entities, ingest_jobs, notifications
from tests.api_support import client, ndjson, stock_rows
from tests.scale_support import wait_until

BATCH = 20


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "deltahook.yaml"
    path.write_text(yaml.safe_dump({"batch_size": BATCH}))
    return path


@pytest.fixture
def store(database_url: str) -> Iterator[SqlEngine]:
    db = open_engine(database_url)
    yield db
    db.dispose()


def stored_entities(db: SqlEngine) -> int:
    with db.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(entities)).scalar_one())


def the_job(db: SqlEngine) -> dict[str, Any]:
    with db.connect() as conn:
        job_id = conn.execute(select(ingest_jobs.c.id)).scalar_one()
        found = jobs.find(conn, job_id)
    assert found is not None
    return found


def killed_ingest(config: Path, url: str, db: SqlEngine) -> None:
    """An ingest reading standard input, SIGKILLed after two of its batches are stored."""
    command = [sys.executable, "-m", "deltahook", "--config", str(config), "--database-url", url]
    command += ["ingest", "sku_onhand", "-", "--format", "ndjson"]
    ingest = subprocess.Popen(command, stdin=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert ingest.stdin is not None
    ingest.stdin.write(ndjson(stock_rows(50)))  # two whole batches and half of a third
    ingest.stdin.flush()

    def two_batches_recorded() -> bool:
        return stored_entities(db) > 0 and the_job(db)["counts"]["inserted"] == 2 * BATCH

    try:
        wait_until(two_batches_recorded, timeout=60, what="two batches stored and recorded")
        assert the_job(db)["status"] == "running"
    finally:
        os.kill(ingest.pid, signal.SIGKILL)
        ingest.wait()
        ingest.stdin.close()


def test_status_finds_a_killed_ingest_abandoned_with_what_it_applied(
    config: Path, database_url: str, store: SqlEngine
) -> None:
    """SIGKILL mid-feed: `deltahook status` marks the job abandoned, with its applied counts."""
    killed_ingest(config, database_url, store)
    runner = CliRunner()
    shown = runner.invoke(main, ["--config", str(config), "--database-url", database_url, "status"])
    assert shown.exit_code == 0, shown.output
    job = the_job(store)
    assert job["status"] == "abandoned"
    assert job["finished_at"] is not None
    assert (job["counts"]["received"], job["counts"]["inserted"]) == (40, 40)
    assert stored_entities(store) == 40
    assert f"ingest job {job['job_id']} abandoned" in shown.output
    assert "inserted 40" in shown.output
    with store.connect() as conn:  # subscribers hear of it: JobCompletedEvent, StatusId 3
        events = (
            conn.execute(
                select(notifications.c.payload).where(
                    notifications.c.type == "JobCompletedEvent",
                    notifications.c.entity_key == job["job_id"],
                )
            )
            .scalars()
            .all()
        )
    assert [orjson.loads(payload)["StatusId"] for payload in events] == [3]


def test_the_next_ingest_finds_a_killed_ingest_abandoned(
    config: Path, database_url: str, store: SqlEngine
) -> None:
    """SIGKILL mid-feed: the next ingest marks the dead job abandoned before it starts its own."""
    killed_ingest(config, database_url, store)
    settings = Settings(database_url=database_url, batch_size=BATCH)
    with Engine.from_settings(settings) as engine:
        result = engine.ingest("sku_onhand", ndjson_stream(stock_rows(5)), fmt="ndjson")
    with store.connect() as conn:
        statuses = dict(conn.execute(select(ingest_jobs.c.id, ingest_jobs.c.status)).all())
    killed = next(job_id for job_id in statuses if job_id != result.job_id)
    assert statuses == {killed: "abandoned", result.job_id: "succeeded"}


def ndjson_stream(rows: list[dict[str, Any]]) -> io.BytesIO:
    return io.BytesIO(ndjson(rows))


def ended_process() -> str:
    """The owner name (host:pid) of a process of this host that has ended and been reaped."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return f"{this_process().rpartition(':')[0]}:{child.pid}"


@pytest.mark.parametrize(
    ("owner", "lease_s", "status"),
    [
        (ended_process, 600, "abandoned"),  # its process ended on this host: lease or not
        (lambda: "another-host:1", -1, "abandoned"),  # another host: the lease ran out
        (lambda: "another-host:1", 600, "running"),  # another host: the lease still holds
        (this_process, -1, "running"),  # it runs (a slow feed on this host): kept
    ],
)
def test_get_job_finds_a_running_job_abandoned_as_status_does(
    database_url: str, owner: Callable[[], str], lease_s: int, status: str
) -> None:
    """GET /v1/jobs/{id} applies the rule `deltahook status` applies: a running job whose
    process is gone (or, elsewhere, whose lease ran out) is abandoned, with its finish time."""
    with client(database_url) as api:
        engine = api.app.state.engine  # type: ignore[attr-defined]
        now = engine.clock()
        with engine.db.begin() as conn:
            jobs.start(
                conn,
                job_id="j-1",
                kind="sku_onhand",
                mode="full",
                source="-",
                now=now - timedelta(hours=1),
                owner=owner(),
                lease_until=now + timedelta(seconds=lease_s),
            )
        job = api.get("/v1/jobs/j-1").json()
        assert job["status"] == status
        assert (job["finished_at"] is not None) is (status == "abandoned")
        assert api.get("/v1/jobs/j-1").json()["status"] == status  # and it stays so
