"""What one full feed may remove from its scope: refused over the limit, nothing removed."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from sqlalchemy import select

from deltahook.config import Settings
from deltahook.configload import load_settings
from deltahook.engine import Engine
from deltahook.errors import ConfigError, SweepRefusedError
from deltahook.store import jobs
from deltahook.store.tables import entities
from tests.full_feed_support import encode, ingest, onhand
from tests.integration.test_full_feed_safety import active

STORED = [onhand(f"P{i:02}") for i in range(20)]


def open_engine(database_url: str, **settings: object) -> Engine:
    engine = Engine.from_settings(Settings(database_url=database_url, batch_size=4, **settings))
    ingest(engine, STORED, "ndjson")
    return engine


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    with open_engine(database_url) as engine:
        yield engine


def test_a_short_full_feed_is_refused_and_removes_nothing(engine: Engine) -> None:
    """3 of 20 rows sent: removing 17 (85%) is over the default 10%; the job fails, nothing
    is deactivated, and the records it carried are applied."""
    with pytest.raises(SweepRefusedError) as refused:
        ingest(engine, [onhand("P00", OnhandValue=9), onhand("P01"), onhand("P02")], "ndjson")
    error = refused.value
    assert (error.removing, error.of, str(error.limit)) == (17, 20, "10%")
    assert "would deactivate 17 of the 20 sku_onhand entities in its scope (85%)" in str(error)
    assert set(active(engine).values()) == {None}
    with engine.db.connect() as conn:
        job = jobs.find(conn, error.job_id)
    assert job is not None
    assert (job["status"], job["counts"]["updated"]) == ("failed", 1)


def test_the_limit_is_inclusive(engine: Engine) -> None:
    """Removing exactly 10% (2 of 20) is allowed; 3 of 20 is not."""
    assert ingest(engine, STORED[:18], "ndjson").counts.updated == 2
    with pytest.raises(SweepRefusedError):
        ingest(engine, STORED[:15], "ndjson", max_remove="15%")  # 3 more of the 18 active


def test_one_row_of_a_small_scope_may_go_under_the_default(engine: Engine) -> None:
    """A store with 5 rows drops one (20%): the default 10% allows one entity whatever the
    share, so it is deactivated; two of the 4 left (50%) are refused."""
    store = [onhand(f"S{i}", wh="W9") for i in range(5)]
    ingest(engine, store, "ndjson", mode="upsert")
    result = ingest(engine, store[:4], "ndjson")
    assert (result.counts.updated, result.sweep) == (1, "swept")
    with pytest.raises(SweepRefusedError) as refused:
        ingest(engine, store[:2], "ndjson")
    assert (refused.value.removing, refused.value.of) == (2, 4)


def test_rows_already_deactivated_count_neither_way(engine: Engine) -> None:
    """Rows a previous feed switched off are no removal: 1 of the 18 still active is 5.6%."""
    ingest(engine, STORED[:18], "ndjson")
    result = ingest(engine, STORED[:17], "ndjson")
    assert (result.counts.updated, result.sweep) == (1, "swept")


def test_a_run_may_raise_the_limit(engine: Engine) -> None:
    """--max-remove 100% (max_remove on the Python API) lets a real clean-up through."""
    result = ingest(engine, STORED[:2], "ndjson", max_remove="100%")
    assert result.counts.updated == 18


def test_the_config_sets_a_count_per_kind(database_url: str) -> None:
    """max_remove: {sku_onhand: 1} refuses a feed that would remove 2 rows, whatever the %."""
    with open_engine(database_url, max_remove={"sku_onhand": 1, "default": "100%"}) as engine:
        with pytest.raises(SweepRefusedError) as refused:
            ingest(engine, STORED[:18], "ndjson")
        assert str(refused.value.limit) == "1"
        assert ingest(engine, STORED[:19], "ndjson").counts.updated == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("max_remove: {sku_onhand: ten%}\n", "sku_onhand: 'ten%' is not a count (500) or a"),
        ("max_remove: {default: 120%}\n", "default: '120%': a percentage is from 0% to 100%"),
        ("max_remove: {default: -1}\n", "default: -1: a count is 0 or more"),
    ],
)
def test_a_bad_limit_in_the_config_names_the_setting(
    tmp_path: Path, text: str, message: str
) -> None:
    """A limit that is neither a count nor a percentage is a config error naming it."""
    config = tmp_path / "deltahook.yaml"
    config.write_text(text)
    with pytest.raises(ConfigError, match="max_remove") as error:
        load_settings(config, env={})
    assert message in str(error.value)


def test_a_limit_for_an_unknown_kind_is_a_config_error(tmp_path: Path) -> None:
    """A misspelt kind under max_remove is refused when the engine starts."""
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'db'}", max_remove={"sku_onhnd": 5})
    with pytest.raises(ConfigError, match="max_remove: unknown entity kind 'sku_onhnd'"):
        Engine.from_settings(settings)


def test_a_preview_over_the_limit_says_it_would_be_refused(engine: Engine) -> None:
    """A preview refuses like the ingest would, without claiming it applied or stored a job."""
    with pytest.raises(SweepRefusedError) as refused:
        engine.preview("sku_onhand", one_row(), mode="full", fmt="ndjson")
    message = str(refused.value)
    assert "would deactivate 19 of the 20" in message
    assert "a preview writes nothing" in message
    assert "applied" not in message
    result = engine.preview("sku_onhand", one_row(), mode="full", fmt="ndjson", max_remove="19")
    assert result.counts.updated == 19


def one_row() -> io.BytesIO:
    return io.BytesIO(encode([STORED[0]], "ndjson"))


def test_a_kind_without_a_scope_is_guarded_as_a_whole(engine: Engine) -> None:
    """The issue's case: 10 SKUs sent in full mode of the 300 stored; none is switched off."""
    skus = [{"PartNo": f"S{i:03}", "StatusId": 1} for i in range(300)]
    ingest(engine, skus, "ndjson", "sku", mode="upsert")
    with pytest.raises(SweepRefusedError) as refused:
        ingest(engine, skus[:10], "ndjson", "sku")
    assert (refused.value.removing, refused.value.of) == (290, 300)
    with engine.db.connect() as conn:
        statuses = conn.execute(select(entities.c.body).where(entities.c.kind == "sku"))
        assert {orjson.loads(body)["StatusId"] for (body,) in statuses} == {1}
    assert ingest(engine, skus[:280], "ndjson", "sku").counts.updated == 20  # 6.7%: allowed


def test_an_empty_full_feed_may_not_empty_a_scope_of_one(engine: Engine) -> None:
    """A kind without a scope holding one customer: an empty full feed (a broken export) would
    remove it all, so the percentage's allowance of one entity does not apply; a feed holding
    another record still may drop it, and 100% (or an allowance of 2 given with ``or``) lets the
    empty feed through."""
    customer = {"CustomerCode": "C1", "CustomerId": 1}
    ingest(engine, [customer], "ndjson", "customer", mode="upsert")
    with pytest.raises(SweepRefusedError) as refused:
        ingest(engine, [], "ndjson", "customer")
    assert (refused.value.removing, refused.value.of) == (1, 1)
    assert str(refused.value).startswith("full feed refused: it held no record and would")
    assert ingest(engine, [], "ndjson", "customer", max_remove="10% or 2").counts.updated == 1
    ingest(engine, [customer], "ndjson", "customer", mode="upsert")  # back
    assert ingest(engine, [], "ndjson", "customer", max_remove="100%").counts.updated == 1
    ingest(engine, [customer], "ndjson", "customer", mode="upsert")
    other = {"CustomerCode": "C2", "CustomerId": 2}
    result = ingest(engine, [other], "ndjson", "customer")  # 1 of 1 stored: the allowance holds
    assert (result.counts.updated, result.sweep) == (1, "swept")
