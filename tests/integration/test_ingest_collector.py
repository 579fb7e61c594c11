"""The cyclic garbage collector during an ingest: between batches, not inside them."""

from __future__ import annotations

import gc
import io
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from deltahook import gcpolicy, pipeline
from deltahook.config import Settings
from deltahook.engine import Engine


def _feed(count: int) -> io.BytesIO:
    lines = [orjson.dumps({"PartNo": f"P{i}", "StatusId": 1}) for i in range(count)]
    return io.BytesIO(b"\n".join(lines) + b"\n")


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    with Engine.from_settings(Settings(database_url=database_url, batch_size=3)) as engine:
        yield engine


@pytest.fixture
def seen(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, list[Any]]]:
    """Whether the collector was enabled inside each batch, and the collections that ran."""
    record: dict[str, list[Any]] = {"enabled": [], "collections": []}
    batch = pipeline.Run._batch

    def spy(self: pipeline.Run, items: list[Any]) -> None:
        record["enabled"].append(gc.isenabled())
        batch(self, items)

    def collected(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            record["collections"].append(info["generation"])

    monkeypatch.setattr(pipeline.Run, "_batch", spy)
    gc.callbacks.append(collected)
    try:
        yield record
    finally:
        gc.callbacks.remove(collected)


def test_no_automatic_collection_inside_a_batch_and_one_after_each(
    engine: Engine, seen: dict[str, list[Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batches run with the collector off; the young generations are collected after a batch
    once enough containers are alive (here: any)."""
    monkeypatch.setattr(gcpolicy, "_YOUNG", 0)
    engine.ingest("sku", _feed(7), fmt="ndjson", mode="upsert")
    assert seen["enabled"] == [False, False, False]
    assert len(seen["collections"]) >= 3
    assert gc.isenabled()


def test_a_collector_the_caller_switched_off_stays_off(
    engine: Engine, seen: dict[str, list[Any]]
) -> None:
    """An ingest neither collects nor re-enables the collector when its caller disabled it."""
    gc.disable()
    try:
        engine.ingest("sku", _feed(4), fmt="ndjson", mode="upsert")
        assert not gc.isenabled()
    finally:
        gc.enable()
    assert seen["collections"] == []
