"""Ingest jobs are kept as long as the delivery log: the purge removes the ones that ended
before its horizon, with their rejects, but never a running job nor one whose notification a
delivery still needs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from deltahook.config import Settings
from deltahook.delivery import queue
from deltahook.delivery.status import DeliveryStatus
from deltahook.engine import Engine
from deltahook.store import jobs
from deltahook.store.tables import deliveries, job_rejects
from tests.clocks import MovableClock
from tests.integration.test_rules_ingest import ingest

T0 = datetime(2026, 11, 1, tzinfo=UTC)
WEEK = timedelta(days=7)


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock(T0)


def _engine(database_url: str, clock: MovableClock, **more: object) -> Engine:
    settings = Settings(database_url=database_url, allow_private_urls=True, **more)
    return Engine.from_settings(settings, clock=clock)


@pytest.fixture
def engine(database_url: str, clock: MovableClock) -> Iterator[Engine]:
    with _engine(database_url, clock) as engine:
        yield engine


def purge(engine: Engine, clock: MovableClock) -> dict[str, int]:
    with engine.db.begin() as conn:
        return queue.purge(conn, before=clock() - WEEK)


def stored(engine: Engine, job_id: str) -> bool:
    with engine.db.connect() as conn:
        return jobs.find(conn, job_id) is not None


def test_an_ended_job_goes_with_the_log_and_takes_its_rejects(
    engine: Engine, clock: MovableClock
) -> None:
    """A week and a day later the job (its notification delivered nowhere, one reject) is gone;
    a job of today stays."""
    old = ingest(engine, "sku", [{"PartNo": "P1", "StatusId": 1}, {"StatusId": 1}])
    assert old.counts.notifications == 1
    assert old.counts.rejected == 1
    clock.now = T0 + WEEK + timedelta(days=1)
    new = ingest(engine, "sku", [{"PartNo": "P2"}])
    assert purge(engine, clock)["jobs"] == 1
    assert not stored(engine, old.job_id)
    assert stored(engine, new.job_id)
    with engine.db.connect() as conn:
        assert conn.execute(select(func.count()).select_from(job_rejects)).scalar_one() == 0


def test_a_running_job_is_never_purged(engine: Engine, clock: MovableClock) -> None:
    """A job still running (its lease long run out) is left for the abandoned-job check."""
    with engine.db.begin() as conn:
        jobs.start(
            conn,
            job_id="running",
            kind="sku",
            mode="upsert",
            source="-",
            now=T0,
            owner="elsewhere:1",
            lease_until=T0 + timedelta(minutes=5),
        )
    clock.now = T0 + 2 * WEEK
    assert purge(engine, clock)["jobs"] == 0
    assert stored(engine, "running")


def test_a_job_whose_notification_a_delivery_needs_stays(
    database_url: str, clock: MovableClock
) -> None:
    """While a delivery of its notification is queued (or finished within the week), the job
    stays; once the delivery log lets the notification go, the job goes too."""
    shop = {"name": "shop", "url": "http://127.0.0.1:9/", "event_types": ["*"]}
    with _engine(database_url, clock, subscriptions=[shop]) as engine:
        job = ingest(engine, "sku", [{"PartNo": "P1", "StatusId": 1}])
        assert job.counts.deliveries == 1
        clock.now = T0 + 2 * WEEK
        assert purge(engine, clock)["jobs"] == 0
        assert stored(engine, job.job_id)
        with engine.db.begin() as conn:
            conn.execute(
                update(deliveries).values(status=DeliveryStatus.DEAD, updated_at=clock.now)
            )
        assert purge(engine, clock)["jobs"] == 0  # dead today: the log keeps it a week
        clock.now += WEEK + timedelta(seconds=1)
        assert purge(engine, clock)["jobs"] == 1
        assert not stored(engine, job.job_id)
