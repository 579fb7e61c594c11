"""A server out of database connections says it is busy (503, Retry-After), never "a bug"."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

from fastapi.testclient import TestClient

from deltahook.api import create_app
from deltahook.engine import Engine
from deltahook.store.db import open_engine
from tests.api_support import AUTH, settings


def test_an_exhausted_pool_answers_503_with_retry_after(tmp_path: Path) -> None:
    """Every pooled connection taken: a route that needs one answers 503 busy, not 500."""
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    with Engine.from_settings(settings(url)) as engine, ExitStack() as held:
        engine.db.dispose()
        engine.db = open_engine(url, pool_size=1, pool_timeout_s=0.01)
        for _ in range(2):  # the pool's one connection and its one overflow
            held.enter_context(engine.db.connect())
        with TestClient(create_app(engine.settings, engine=engine), headers=AUTH) as api:
            answer = api.get("/v1/jobs/any-job")
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "5"
    assert answer.json()["error"] == "unavailable"
    assert "busy" in answer.json()["message"]


def test_healthz_with_every_connection_taken_says_busy_not_unreachable(tmp_path: Path) -> None:
    """The database answers but this server has no free connection: 503 'busy' with
    Retry-After, so an operator looks at the load, not at the database."""
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    with Engine.from_settings(settings(url)) as engine, ExitStack() as held:
        engine.db.dispose()
        engine.db = open_engine(url, pool_size=1, pool_timeout_s=0.01)
        for _ in range(2):  # the pool's one connection and its one overflow
            held.enter_context(engine.db.connect())
        with TestClient(create_app(engine.settings, engine=engine)) as api:
            answer = api.get("/healthz")
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "5"
    assert answer.json() == {"status": "unavailable", "database": "busy", "dispatcher": None}
