"""A subscription deleted, switched off or narrowed over the API while an ingest's batch queues
deliveries for it (PostgreSQL, read committed; SQLite runs one writer at a time).

The batch is held open after it queued its deliveries, the change is made beside it, and the
batch commits once the change has ended or waits for it. Whichever commits first, the store
ends as one of the two serial orders leaves it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Connection, select, text

from deltahook.delivery import managed, ratelimit
from deltahook.delivery import subscriptions as subs
from deltahook.delivery.settings import SubscriptionSettings
from deltahook.delivery.status import DeliveryStatus
from deltahook.notifications import Notification
from deltahook.store import outbox
from deltahook.store.db import open_engine
from deltahook.store.tables import deliveries

pytestmark = pytest.mark.postgres

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
NOTE = Notification(
    id="00000000-0000-4000-8000-000000000001",
    type="SkuChangedNotification",
    family="notification",
    payload={"PartNo": "P-1"},
    created_at=NOW,
)


def remove(conn: Connection) -> None:
    managed.remove(conn, "crm", now=NOW)


def switch_off(conn: Connection) -> None:
    managed.change(conn, "crm", {"enabled": False}, allow_private=True, now=NOW)


def narrow(conn: Connection) -> None:
    changes = {"event_types": ["OrderConfirmedEvent"]}
    managed.change(conn, "crm", changes, allow_private=True, now=NOW)


@pytest.fixture
def db(pg_url: str) -> Iterator[Any]:
    engine = open_engine(pg_url)
    settings = SubscriptionSettings(name="crm", url="http://127.0.0.1:9/", event_types=["*"])
    with engine.begin() as conn:
        managed.create(conn, settings, declared=frozenset(), now=NOW)
    yield engine
    engine.dispose()


@pytest.mark.parametrize(
    ("change", "left"),
    [
        (remove, DeliveryStatus.DEAD),  # its queued deliveries end as dead
        (switch_off, DeliveryStatus.PENDING),  # kept, sent once it is switched on again
        (narrow, DeliveryStatus.PENDING),  # queued while it still wanted the type
    ],
)
def test_a_subscription_changed_beside_a_batch_that_queues_for_it_ends_as_if_serial(
    db: Any, change: Callable[[Connection], None], left: DeliveryStatus
) -> None:
    """A change that commits while the batch is open leaves no delivery queued for the
    subscription as it was: it waits for the batch, whose delivery it then finds (ended as
    dead by a deletion, kept by the others); no change commits first while the batch goes on
    to queue for what the subscription no longer is."""
    changed_first = beside_an_open_batch(db, change)
    with db.connect() as conn:
        statuses = conn.execute(select(deliveries.c.status)).scalars().all()
    if changed_first:  # the serial order change, then batch: nothing queued for it
        assert statuses == [], "the batch queued for a subscription changed before it committed"
    else:
        assert statuses == [left]


def beside_an_open_batch(db: Any, action: Callable[[Connection], object]) -> bool:
    """Run ``action`` in a transaction of its own while a batch that queued a delivery for crm
    is held open; True when it ended without waiting for the batch (False: it waited for a
    row lock, and the batch then committed first)."""
    queued, go = threading.Event(), threading.Event()
    pid: list[int] = []
    errors: list[BaseException] = []

    def batch() -> None:
        try:
            with db.begin() as conn:
                outbox.record(conn, [NOTE], now=NOW)
                queued.set()
                go.wait(timeout=60)
        except BaseException as exc:  # reported below, in the test's own thread
            errors.append(exc)

    def acting() -> None:
        try:
            with db.begin() as conn:
                pid.append(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
                action(conn)
        except BaseException as exc:
            errors.append(exc)

    batching = threading.Thread(target=batch)
    batching.start()
    assert queued.wait(timeout=60)
    actor = threading.Thread(target=acting)
    actor.start()
    ended_first = wait_for_lock_or_end(db, actor, pid)
    go.set()
    batching.join(timeout=60)
    actor.join(timeout=60)
    assert errors == []
    return ended_first


def wait_for_lock_or_end(db: Any, thread: threading.Thread, pid: list[int]) -> bool:
    """Wait until the changer has committed (True) or waits for a row lock (False)."""
    while thread.is_alive():
        if pid:
            with db.connect() as conn:
                waits = conn.execute(
                    text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid"),
                    {"pid": pid[0]},
                ).scalar()
            if waits == "Lock":
                return False
        thread.join(timeout=0.05)
    return True


def test_a_dispatcher_locking_health_and_rate_beside_an_open_batch_does_not_wait(
    db: Any,
) -> None:
    """A dispatcher's health merge and rate-limit bucket lock a subscription's row while an
    ingest's batch that queued for it is still open: neither waits for the batch (its values
    change, never who wants what), so deliveries go on while a long first load writes."""

    def dispatcher(conn: Connection) -> None:
        subs.get(conn, "crm", locked=True, values_only=True)  # the health merge's
        ratelimit.available(conn, "crm", rate=1.0, burst=1, now=NOW)

    went_on = beside_an_open_batch(db, dispatcher)
    assert went_on, "the dispatcher's lock waited for the ingest's batch"
