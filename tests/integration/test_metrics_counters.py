"""Metrics counted where the work happens: counters that a purge never lowers, and gauges of
the queue read by a cheap query at scrape time."""

from __future__ import annotations

from datetime import timedelta

from prometheus_client.parser import text_string_to_metric_families

from deltahook.api import metrics
from deltahook.delivery import queue
from deltahook.delivery.receiver import Receiver
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
