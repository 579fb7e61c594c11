"""Shared fixtures: a fresh database per test, on SQLite and (where it answers) PostgreSQL."""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from deltahook.delivery.receiver import Receiver
from tests.delivery_support import World

REPO = Path(__file__).resolve().parents[1]

# Properties assert behaviour, not speed: no per-example deadline, which on a busy 2-core
# machine failed a property now and then for taking 200 ms. Failures print a reproduction blob.
settings.register_profile("deltahook", deadline=None, print_blob=True)
settings.load_profile("deltahook")
PG_ADMIN_URL = os.environ.get(
    "DELTAHOOK_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _postgres_answers() -> str | None:
    """None when the PostgreSQL server answers, else why not."""
    try:
        import psycopg

        dsn = PG_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(dsn, connect_timeout=3):
            return None
    except Exception as exc:  # any failure to connect means "no server here"
        return f"{type(exc).__name__}: {exc}"


@functools.cache
def _postgres_problem() -> str | None:
    return _postgres_answers()


def postgres_or_skip() -> None:
    """Skip outside CI when no PostgreSQL server answers; in CI, fail instead."""
    problem = _postgres_problem()
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"CI needs PostgreSQL at {PG_ADMIN_URL}: {problem}")
        pytest.skip(f"no PostgreSQL server answers at {PG_ADMIN_URL} (runs in CI)")


@pytest.fixture(scope="session", autouse=True)
def _schema_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The suite keeps its generated validators in a folder of its own, never the user's
    cache (subprocesses inherit it through the environment)."""
    folder = tmp_path_factory.mktemp("deltahook-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DELTAHOOK_CACHE_DIR", str(folder))
        yield folder


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL whose search path is a fresh schema of its own, dropped afterwards."""
    postgres_or_skip()
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:16]}"
    dsn = PG_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{PG_ADMIN_URL}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Every integration test that takes this runs once per supported database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'deltahook.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A local webhook receiver that records what it gets."""
    with Receiver() as server:
        yield server


@pytest.fixture
def world(database_url: str) -> Iterator[World]:
    """A store with subscriptions and a dispatcher to drive, on each database."""
    w = World(database_url)
    yield w
    w.close()
