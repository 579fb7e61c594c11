"""Dispatcher heartbeats: /healthz, /metrics and the console say whether anything delivers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from deltahook.api import create_app
from deltahook.delivery import heartbeat
from deltahook.delivery.receiver import Receiver
from deltahook.engine import Engine
from tests.api_support import AUTH, settings
from tests.console_support import sign_in
from tests.delivery_support import T0, World


def test_a_running_dispatcher_beats_and_a_clean_stop_leaves(
    world: World, receiver: Receiver
) -> None:
    """While it delivers, its heartbeat is fresh; once ``run`` returns, its row is gone."""
    seen: list[int] = []

    def look(_: object) -> None:
        with world.db.connect() as conn:
            seen.append(heartbeat.liveness(conn, now=world.now).alive)

    receiver.on_request = look
    world.subscribe("shop", receiver.url)
    world.notify(1)
    assert world.run().delivered == 1
    assert seen == [1]
    with world.db.connect() as conn:
        assert heartbeat.liveness(conn, now=world.now).alive == 0


def test_a_beat_older_than_the_stale_limit_no_longer_counts(world: World) -> None:
    """30 s without a beat: not running, and the age says how long."""
    with world.db.begin() as conn:
        heartbeat.beat(conn, "w1", now=T0)
    with world.db.connect() as conn:
        assert heartbeat.liveness(conn, now=T0 + timedelta(seconds=5)).alive == 1
        late = heartbeat.liveness(conn, now=T0 + timedelta(seconds=45))
    assert (late.alive, late.age_s, late.label) == (0, 45.0, "No dispatcher")


@pytest.fixture
def api(database_url: str) -> Iterator[tuple[TestClient, Engine]]:
    engine = Engine.from_settings(settings(database_url), clock=lambda: T0)
    with TestClient(create_app(engine.settings, engine=engine), follow_redirects=False) as c:
        yield c, engine
    engine.close()


def test_healthz_metrics_and_the_console_report_the_dispatchers(
    api: tuple[TestClient, Engine],
) -> None:
    """None seen: healthz says so (still 200), metrics show 0 and the console's header warns;
    after a beat all three say one is running."""
    client, engine = api
    health = client.get("/healthz")
    assert health.status_code == 200
    assert health.json()["dispatcher"]["running"] == 0
    assert "deltahook_dispatchers_running 0" in client.get("/metrics", headers=AUTH).text
    sign_in(client)
    assert "No dispatcher" in client.get("/admin/").text
    with engine.db.begin() as conn:
        heartbeat.beat(conn, "w1", now=T0)
    assert client.get("/healthz").json()["dispatcher"]["running"] == 1
    metrics = client.get("/metrics", headers=AUTH).text
    assert "deltahook_dispatchers_running 1" in metrics
    assert "deltahook_dispatcher_heartbeat_age_seconds 0.0" in metrics
    assert "Dispatcher running" in client.get("/admin/").text
