"""Reading back a stored entity: snapshot, version, times, last job, recent notifications."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from deltahook.config import Settings
from deltahook.engine import Engine
from deltahook.errors import CatalogError
from tests.integration.test_baseline import ndjson
from tests.integration.test_rules_ingest import BREAKPOINT, stock

START = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)
KEY = "P1|STO|A-12"


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    minutes = itertools.count()
    settings = Settings(database_url=database_url)
    clock = lambda: START + timedelta(minutes=next(minutes))  # noqa: E731
    with Engine.from_settings(settings, clock=clock) as engine:
        yield engine


def test_a_snapshot_is_what_the_last_ingest_stored_with_its_notifications(engine: Engine) -> None:
    """After 7 then 2 (minimum 3): the body of the second, version 2, created at the first
    ingest's time, updated at the second's, that job last, and the breakpoint it fired."""
    first = engine.ingest("sku_onhand", ndjson([stock("P1", 7)]), fmt="ndjson")
    second = engine.ingest("sku_onhand", ndjson([stock("P1", 2)]), fmt="ndjson")
    found = engine.snapshot("sku_onhand", KEY)
    assert found is not None
    assert found.body == stock("P1", 2)
    assert (found.version, found.job_id) == (2, second.job_id)
    assert found.created_at < found.updated_at
    assert found.last_job is not None
    assert (found.last_job["job_id"], found.last_job["status"]) == (second.job_id, "succeeded")
    assert found.last_job["baseline"] is False
    (fired,) = (n for n in found.notifications if n["type"] == BREAKPOINT)
    assert (fired["job_id"], fired["payload"]["OnHandValue"]) == (second.job_id, 2)
    assert first.job_id != second.job_id


def test_an_unknown_key_is_none_and_an_unknown_kind_a_catalog_error(engine: Engine) -> None:
    """No stored entity: None; a kind the catalog lacks: the catalog's own error."""
    assert engine.snapshot("sku_onhand", "nope") is None
    with pytest.raises(CatalogError, match="unknown entity kind"):
        engine.snapshot("skuu", "P1")
