"""A job's ids on a real store: its notifications and their deliveries take ids in the order
they are stored, and a group decided again by a later batch is still notified once."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from sqlalchemy import select

from deltahook.config import Settings
from deltahook.delivery.settings import SubscriptionSettings
from deltahook.engine import Engine
from deltahook.errors import ConflictError
from deltahook.notifications import JobIds
from deltahook.store import outbox
from deltahook.store.tables import deliveries, notifications
from tests.integration.test_rules_ingest import SKU_CHANGED, ingest, ndjson, stock

SUBSCRIPTIONS = [
    SubscriptionSettings(name=name, url=f"https://{name}.example/hooks", event_types=["*"])
    for name in ("erp", "shop")
]


def test_ids_follow_the_order_stored_and_groups_are_notified_once(database_url: str) -> None:
    """Stock rows of one SKU spread over four batches of two notify its stock table once;
    every notification's id sorts in the order the job decided it, and its deliveries' ids
    sort with it, one per subscription."""
    settings = Settings(database_url=database_url, batch_size=2, subscriptions=SUBSCRIPTIONS)
    feed = [stock(f"P{i % 3}", 2, loc=f"L-{i}") for i in range(8)]
    with Engine.from_settings(settings) as engine:
        result = ingest(engine, "sku_onhand", feed)
        with engine.db.connect() as conn:
            n, d = notifications.c, deliveries.c
            rule_made = select(n.id).where(n.family == "notification").order_by(n.id)
            stored_ids = list(conn.execute(rule_made).scalars())
            queued = conn.execute(
                select(d.notification_id, d.subscription)
                .where(d.notification_id.in_(stored_ids))
                .order_by(d.id)
            ).all()
    changed = Counter(n.payload["PartNo"] for n in result.notifications if n.type == SKU_CHANGED)
    assert changed == {"P0": 1, "P1": 1, "P2": 1}
    decided = [n.id for n in result.notifications]
    assert decided == stored_ids
    assert queued == [(n, name) for n in decided for name in ("erp", "shop")]


def test_a_batch_retried_after_a_conflict_decides_again_under_the_same_ids(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch whose writes failed as a lost race after its rules decided is rolled back and
    retried: its groups are decided again (none taken for notified), under the ids the first
    attempt had given, so the job's ids run on without a gap."""
    record = outbox.record
    calls = iter(range(100))

    def loses_one_race(*args: Any, **kwargs: Any) -> int:
        if next(calls) == 1:  # the second batch's first attempt
            raise ConflictError("another ingest got there first")
        return record(*args, **kwargs)

    monkeypatch.setattr(outbox, "record", loses_one_race)
    settings = Settings(database_url=database_url, batch_size=2)
    feed = [stock(f"P{i}", 2, loc="L-1") for i in range(6)]
    with Engine.from_settings(settings) as engine:
        job = engine.new_id()
        engine.new_id = lambda: job
        result = ingest(engine, "sku_onhand", feed)
    changed = sorted(n.payload["PartNo"] for n in result.notifications if n.type == SKU_CHANGED)
    assert changed == [f"P{i}" for i in range(6)]
    expected = JobIds(job)
    assert [n.id for n in result.notifications] == [expected.take() for _ in result.notifications]


def test_two_caller_job_ids_differing_in_their_last_group_both_notify(database_url: str) -> None:
    """Two UUIDv7 job ids made in the same millisecond by a monotonic generator (RFC 9562
    method 1, as Python 3.14's uuid.uuid7) differ only in their last bits; each job must
    still store its notifications (their ids are not those of the first)."""
    first = "01936f1e-2a40-7abc-8def-000000000001"
    second = "01936f1e-2a40-7abc-8def-000000000002"
    settings = Settings(database_url=database_url, batch_size=2)
    with Engine.from_settings(settings) as engine:
        one = engine.ingest("sku_onhand", ndjson([stock("P1", 2)]), fmt="ndjson", job_id=first)
        two = engine.ingest(
            "sku_onhand", ndjson([stock("P2", 2)]), fmt="ndjson", job_id=second, collect=True
        )
    assert one.counts.notifications >= 1
    assert [n.payload["PartNo"] for n in two.notifications if n.type == SKU_CHANGED] == ["P2"]
