"""Metrics counted where the work happens: counters that a purge never lowers, and gauges of
the queue read by a cheap query at scrape time."""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Connection

from deltahook.api import metrics
from deltahook.changes.model import EntityChange
from deltahook.config import Settings
from deltahook.delivery import queue
from deltahook.delivery.receiver import Receiver
from deltahook.engine import Engine
from deltahook.errors import ConflictError
from deltahook.notifications import Notification
from tests.api_support import ndjson, stock_rows
from tests.delivery_support import World


def _scrape(world: World) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = metrics.render(world.db, now=world.now).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _counters(scraped: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> dict:  # type: ignore[type-arg]
    return {
        key: value
        for key, value in scraped.items()
        if key[0].endswith(("_total", "_count", "_bucket", "_sum"))
    }


def test_counters_never_go_down_across_a_purge(world: World, receiver: Receiver) -> None:
    """Attempts, their durations and notifications are counted as they happen: purging the
    delivery log a week later leaves every counter where it was."""
    world.subscribe("shop", receiver.url)
    before = _scrape(world)
    world.notify(3)
    receiver.fail(1)
    world.run()
    world.advance(10)
    world.run()
    after = _scrape(world)
    key = (
        "deltahook_delivery_attempts_total",
        (("outcome", "delivered"), ("subscription", "shop")),
    )
    assert after[key] - before.get(key, 0.0) == 3
    retried = (
        "deltahook_delivery_attempts_total",
        (("outcome", "retrying"), ("subscription", "shop")),
    )
    assert after[retried] - before.get(retried, 0.0) == 1
    notes = ("deltahook_notifications_total", (("type", "SkuChangedNotification"),))
    assert after[notes] - before.get(notes, 0.0) == 3
    world.advance(8 * 86_400)
    with world.db.begin() as conn:
        assert queue.purge(conn, before=world.now - timedelta(days=7))["deliveries"] == 3
    purged = _scrape(world)
    for name, value in _counters(after).items():
        assert purged[name] >= value, name


def test_queue_depth_and_oldest_due_age_are_gauges_of_the_store(
    world: World, receiver: Receiver
) -> None:
    """Queued deliveries by status and how long the oldest due one has waited."""
    world.subscribe("shop", receiver.url)
    world.notify(2)
    world.advance(90)
    scraped = _scrape(world)
    assert scraped[("deltahook_queue_depth", (("status", "pending"),))] == 2
    assert scraped[("deltahook_queue_depth", (("status", "retrying"),))] == 0
    assert scraped[("deltahook_queue_oldest_due_age_seconds", ())] == 90
    world.run()
    scraped = _scrape(world)
    assert scraped[("deltahook_queue_depth", (("status", "pending"),))] == 0
    assert scraped[("deltahook_queue_oldest_due_age_seconds", ())] == 0


class ConflictAfterRecording:
    """One notification per changed entity; the first batch then loses a race (a conflict,
    after its notifications were recorded), so the pipeline rolls it back and retries it."""

    def __init__(self) -> None:
        self.conflicts = 0

    def decide(
        self, conn: Connection, changes: Sequence[EntityChange], *, job_id: str, now: datetime
    ) -> list[Notification]:
        return [
            Notification(
                id=f"{c.kind}:{c.key}",
                type=COUNTED_ONCE,
                family="notification",
                payload={},
                created_at=now,
                entity_kind=c.kind,
                entity_key=c.key,
                job_id=job_id,
            )
            for c in changes
        ]

    def fan_out(self, conn: Connection, *, job_id: str, now: datetime) -> Iterator[list[Any]]:
        if not self.conflicts:
            self.conflicts += 1
            raise ConflictError("another writer changed the same entities")
        return iter(())


COUNTED_ONCE = "CountedOnceNotification"


def test_a_batch_retried_after_a_conflict_counts_its_notifications_once(
    database_url: str,
) -> None:
    """The rolled-back attempt's notifications were never stored: only the committed batch's
    count, as the store holds them."""
    sample = ("deltahook_notifications_total", {"type": COUNTED_ONCE})
    before = REGISTRY.get_sample_value(*sample) or 0.0
    with Engine.from_settings(Settings(database_url=database_url)) as engine:
        engine.decider = decider = ConflictAfterRecording()
        result = engine.ingest("sku_onhand", io.BytesIO(ndjson(stock_rows(3))), fmt="ndjson")
    assert decider.conflicts == 1
    assert result.counts.notifications == 3
    assert (REGISTRY.get_sample_value(*sample) or 0.0) - before == 3
