"""Two ingests of overlapping feeds at the same time lose no update."""

from __future__ import annotations

import io
import threading
from typing import Any

import orjson
from sqlalchemy import select

from deltahook.config import Settings
from deltahook.engine import Engine
from deltahook.pipeline import RunResult
from deltahook.store.tables import entities


def feed(keys: range, value: int) -> bytes:
    rows = (
        {
            "PartNo": f"P{i:04d}",
            "WarehouseCode": "W1",
            "WarehouseId": 1,
            "LocationCode": "A",
            "LocationId": 1,
            "OnhandValue": value,
        }
        for i in keys
    )
    return b"".join(orjson.dumps(r) + b"\n" for r in rows)


def test_overlapping_concurrent_ingests_apply_every_record_once(database_url: str) -> None:
    """Each record of both feeds is applied exactly once, in some order, and none is lost."""
    feeds = {"a": feed(range(1000), 1), "b": feed(range(500, 1500), 2)}
    results: dict[str, RunResult] = {}
    errors: list[BaseException] = []

    def run(name: str) -> None:
        settings = Settings(database_url=database_url, batch_size=100)
        try:
            with Engine.from_settings(settings) as engine:
                results[name] = engine.ingest("sku_onhand", io.BytesIO(feeds[name]), fmt="ndjson")
        except BaseException as exc:  # reported below, in the test's own thread
            errors.append(exc)

    Engine.from_settings(Settings(database_url=database_url)).close()  # schema in place first
    threads = [threading.Thread(target=run, args=(name,)) for name in feeds]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    applied = sum(r.counts.inserted + r.counts.updated for r in results.values())
    assert applied == 2000  # every record changed something exactly once

    engine = Engine.from_settings(Settings(database_url=database_url))
    with engine.db.connect() as conn:
        rows: dict[str, Any] = {
            key: (orjson.loads(body)["OnhandValue"], version)
            for key, body, version in conn.execute(
                select(entities.c.key, entities.c.body, entities.c.version)
            )
        }
    engine.close()
    assert len(rows) == 1500
    assert all(rows[f"P{i:04d}|W1|A"] == (1, 1) for i in range(500))
    assert all(rows[f"P{i:04d}|W1|A"] == (2, 1) for i in range(1000, 1500))
    overlap = [rows[f"P{i:04d}|W1|A"] for i in range(500, 1000)]
    assert all(version == 2 for _, version in overlap)  # both feeds' writes, one after the other
