"""Baseline loads: snapshots and breakpoint state stored as an ingest would, nothing queued."""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import MetaData, delete, func, select

from deltahook import job_events
from deltahook.config import Settings
from deltahook.engine import Engine
from deltahook.results import RunResult
from deltahook.store import jobs
from deltahook.store.tables import (
    deliveries,
    entities,
    entity_refs,
    metadata,
    notifications,
    rule_state,
)
from tests.conftest import REPO
from tests.integration.test_rules_ingest import stock


def ndjson(records: Iterable[dict[str, Any]]) -> io.BytesIO:
    return io.BytesIO(b"".join(orjson.dumps(r) + b"\n" for r in records))


def banded_rules(tmp_path: Path) -> Path:
    """The shipped rules with a re-arm band of 2 on the stock breakpoint, so that a row can be
    fired while its value alone says armed: only the stored state tells the two apart."""
    rules = tmp_path / "rules"
    shutil.copytree(REPO / "rules", rules)
    onhand = rules / "sku_onhand.yaml"
    onhand.write_text(onhand.read_text().replace("rearm_band: 0", "rearm_band: 2"))
    return rules


def clear(engine: Engine, tables: MetaData = metadata) -> None:
    with engine.db.begin() as conn:
        for table in reversed(tables.sorted_tables):
            conn.execute(delete(table))


def stored(engine: Engine) -> dict[str, Any]:
    """What the store holds that a later ingest reads: snapshots and breakpoint state."""
    with engine.db.connect() as conn:
        snaps = conn.execute(
            select(entities.c.kind, entities.c.key, entities.c.body, entities.c.version)
        ).all()
        states = conn.execute(select(rule_state.c.rule, rule_state.c.row_key, rule_state.c.state))
        return {"entities": sorted(map(tuple, snaps)), "state": sorted(map(tuple, states))}


def count(engine: Engine, table: Any) -> int:
    with engine.db.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def fired(result: RunResult) -> list[tuple[str, bytes]]:
    return sorted(
        (n.type, orjson.dumps(n.payload, option=orjson.OPT_SORT_KEYS)) for n in result.notifications
    )


def story(
    engine: Engine, *, baseline: bool, seeded: bool = True
) -> tuple[list[tuple[str, bytes]], dict[str, Any]]:
    """Seed (or not), load (normally or as a baseline), then a delta; what the delta fired and
    what the store held after the load and after the delta."""
    if seeded:
        seed = [stock("P1", 7), stock("P2", 2), stock("P4", 9)]
        engine.ingest("sku_onhand", ndjson(seed), fmt="ndjson")
    # P1 crosses (fired); P2 rises into the re-arm band (still fired, stored as such); P3 new.
    load = [stock("P1", 2), stock("P2", 4), stock("P3", 1), stock("P4", 8)]
    before = count(engine, notifications)
    engine.ingest("sku_onhand", ndjson(load), fmt="ndjson", baseline=baseline)
    if baseline:
        assert count(engine, notifications) == before
    after_load = stored(engine)
    # P2 drops to 3: no crossing, since it never re-armed; P4 crosses; P3 stays below.
    delta = [stock("P1", 4), stock("P2", 3), stock("P3", 0), stock("P4", 3)]
    result = engine.ingest("sku_onhand", ndjson(delta), fmt="ndjson", collect=True)
    return fired(result), after_load | {"after delta": stored(engine)}


@pytest.mark.parametrize("seeded", [True, False], ids=["re-seed", "first load"])
def test_a_baseline_then_a_delta_fires_what_a_normal_load_then_the_delta_fires(
    database_url: str, tmp_path: Path, seeded: bool
) -> None:
    """The delta after a baseline load fires and stores exactly what it does after a normal
    load, breakpoint state included (a row fired inside the re-arm band stays fired), over a
    store that held earlier snapshots and over an empty one."""
    settings = Settings(database_url=database_url, rules_dir=banded_rules(tmp_path), batch_size=2)
    with Engine.from_settings(settings) as engine:
        normal = story(engine, baseline=False, seeded=seeded)
        clear(engine)
        baseline = story(engine, baseline=True, seeded=seeded)
    breakpoints = [p for t, p in normal[0] if t == "SkuOnHandBreakPointNotification"]
    # Seeded, P2 was fired before the load and stays so; first seen at 4, it is armed.
    assert [orjson.loads(p)["PartNo"] for p in breakpoints] == (["P4"] if seeded else ["P2", "P4"])
    assert baseline == normal


def test_a_baseline_load_queues_nothing_and_its_job_says_so(
    database_url: str, tmp_path: Path
) -> None:
    """A baseline first load stores every snapshot, writes no notification or delivery, and
    its job is recorded (and listed) as a baseline."""
    settings = Settings(database_url=database_url, batch_size=2)
    with Engine.from_settings(settings) as engine:
        feed = [stock(f"P{i}", i) for i in range(5)]
        result = engine.ingest("sku_onhand", ndjson(feed), fmt="ndjson", baseline=True)
        assert result.baseline
        assert (result.counts.inserted, result.counts.notifications) == (5, 0)
        assert count(engine, entities) == 5
        assert (count(engine, notifications), count(engine, deliveries)) == (0, 0)
        normal = engine.ingest("sku_onhand", ndjson([stock("P9", 1)]), fmt="ndjson")
        with engine.db.connect() as conn:
            found = jobs.find(conn, result.job_id)
            listed = {job["job_id"]: job["baseline"] for job in jobs.recent(conn)}
    assert found is not None
    assert found["baseline"] is True
    assert listed == {result.job_id: True, normal.job_id: False}


def test_an_abandoned_baseline_job_queues_no_job_completed_event(database_url: str) -> None:
    """A baseline job found abandoned is marked so, and, as when it finishes, notifies no one;
    a normal job found abandoned still gets its JobCompletedEvent."""
    settings = Settings(database_url=database_url)
    with Engine.from_settings(settings) as engine, engine.db.begin() as conn:
        long_ago = datetime(2026, 1, 1, tzinfo=UTC)
        for job_id, baseline in (("base", True), ("norm", False)):
            jobs.start(
                conn,
                job_id=job_id,
                kind="sku_onhand",
                mode="upsert",
                source="-",
                now=long_ago,
                owner=None,
                lease_until=long_ago,
                baseline=baseline,
            )
        found = job_events.abandon_dead(
            conn, settings=settings, events=engine.events, now=long_ago + timedelta(days=1)
        )
        keys = conn.execute(select(notifications.c.entity_key)).scalars().all()
    assert sorted(job["job_id"] for job in found) == ["base", "norm"]
    assert keys == ["norm"]


def test_changes_handed_over_per_batch_are_not_kept_in_the_result(database_url: str) -> None:
    """With ``on_batch``, each committed batch's changes go to the callback and the result
    keeps none, so a large feed's changes never pile up in memory."""
    settings = Settings(database_url=database_url, batch_size=2)
    seen: list[int] = []
    with Engine.from_settings(settings) as engine:
        feed = ndjson(stock(f"P{i}", 9) for i in range(5))
        result = engine.ingest(
            "sku_onhand",
            feed,
            fmt="ndjson",
            collect=True,
            on_batch=lambda b: seen.append(len(b.changes)),
        )
    assert seen == [2, 2, 1]
    assert (result.changes, result.notifications) == ([], [])
    assert result.counts.inserted == 5


def everything_stored(engine: Engine) -> dict[str, Any]:
    """All a later ingest can read of the snapshots: every column of each (but when and by
    which job it was written), the references between entities, and the breakpoint state."""
    kept = [c for c in entities.c if c.name not in ("created_at", "updated_at", "job_id")]
    with engine.db.connect() as conn:
        snaps = conn.execute(select(*kept)).all()
        refs = conn.execute(select(entity_refs)).all()
    return stored(engine) | {"snapshots": sorted(map(tuple, snaps)), "refs": sorted(refs)}


@pytest.mark.parametrize("kind", ["sku", "sku_onhand", "sku_price"])
def test_a_baseline_full_load_stores_what_a_notifying_first_load_stores(
    database_url: str, kind: str
) -> None:
    """A full feed loaded as a baseline into an empty store leaves it exactly as a notifying
    first load does (line hashes, references and rule state included), so the next full feed
    fires and stores the same after either."""
    first, then = REPO / "fixtures" / "v1" / f"{kind}.ndjson", REPO / "fixtures" / "v2"
    settings = Settings(database_url=database_url, batch_size=64)
    outcome = {}
    with Engine.from_settings(settings) as engine:
        for baseline in (False, True):
            clear(engine)
            engine.ingest(kind, first, mode="full", baseline=baseline)
            loaded = everything_stored(engine)
            result = engine.ingest(kind, then / f"{kind}.ndjson", mode="full", collect=True)
            outcome[baseline] = (loaded, fired(result), everything_stored(engine))
    assert outcome[False][0]["snapshots"]
    assert outcome[True] == outcome[False]
