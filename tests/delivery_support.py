"""Helpers for the delivery tests: a store with subscriptions, notifications and a movable clock."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from deltahook.delivery import subscriptions as subs
from deltahook.delivery.attempts import RunStats
from deltahook.delivery.dispatcher import Dispatcher, DispatcherOptions
from deltahook.delivery.retry import DEFAULT_SCHEDULE
from deltahook.delivery.settings import SubscriptionSettings
from deltahook.notifications import Notification
from deltahook.store import outbox
from deltahook.store.db import open_engine
from deltahook.store.tables import attempts, deliveries

T0 = datetime(2026, 11, 24, 10, 0, 0, tzinfo=UTC)
SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
NEW_SECRET = "whsec_" + "Zm9yIHRoZSByb3RhdGlvbiB0ZXN0LCB0d2VudHk="


def subscription(**overrides: Any) -> subs.Subscription:
    """A stored subscription as the dispatcher loads it, with ``overrides``."""
    values: dict[str, Any] = {
        "name": "shop",
        "url": "https://shop.example/",
        "event_types": frozenset({"*"}),
        "enabled": True,
        "headers": {},
        "secrets": (),
        "header_style": "norce",
        "timeout": 5.0,
        "schedule": DEFAULT_SCHEDULE,
        "max_concurrency": 10,
        "source": "config",
    }
    return subs.Subscription(**(values | overrides))


class World:
    """One database with subscriptions, a clock the test moves, and a dispatcher to run."""

    def __init__(self, url: str, *, now: datetime = T0) -> None:
        self.db = open_engine(url)
        self.now = now
        self.declared: list[SubscriptionSettings] = []
        self._ids = itertools.count(1)

    def clock(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    def subscribe(self, name: str, url: str, **settings: Any) -> SubscriptionSettings:
        """Declare a subscription (as the config file would) and sync the store."""
        settings.setdefault("event_types", ["*"])
        sub = SubscriptionSettings(name=name, url=url, **settings)
        self.declared = [s for s in self.declared if s.name != name] + [sub]
        with self.db.begin() as conn:
            subs.sync(conn, self.declared, now=self.now)
        return sub

    def stored(self, name: str) -> subs.Subscription:
        """The subscription ``name`` as the store holds it."""
        with self.db.connect() as conn:
            return subs.get(conn, name)

    def notify(
        self, count: int = 1, *, type: str = "SkuChangedNotification", at: datetime | None = None
    ) -> list[Notification]:
        """Store ``count`` notifications (and their deliveries) as an ingest would."""
        when = at or self.now
        items = []
        for _ in range(count):
            number = next(self._ids)
            items.append(
                Notification(
                    id=f"00000000-0000-4000-8000-{number:012d}",
                    type=type,
                    family="notification",
                    payload={"ClientId": 1042, "PartNo": f"P-{number}"},
                    created_at=when,
                )
            )
        with self.db.begin() as conn:
            outbox.record(conn, items, now=when)
        return items

    def dispatcher(self, *, worker: str = "test-worker", **options: Any) -> Dispatcher:
        """A dispatcher for this world; its receivers listen on loopback addresses."""
        options.setdefault("allow_private", True)
        return Dispatcher(
            self.db,
            options=DispatcherOptions(worker_id=worker, **options),
            clock=self.clock,
            jitter=lambda: 0.0,
            env=self.env,
        )

    env: Mapping[str, str] = {}

    def run(self, **options: Any) -> RunStats:
        """Deliver what is due at ``now``, then return (the dispatcher's ``--once`` step)."""
        return asyncio.run(self.dispatcher(**options).run(once=True))

    def deliveries(self) -> list[Any]:
        with self.db.connect() as conn:
            return list(conn.execute(select(deliveries).order_by(deliveries.c.created_at)))

    def delivery(self, subscription: str | None = None) -> Any:
        rows = [r for r in self.deliveries() if subscription in (None, r.subscription)]
        assert len(rows) == 1, rows
        return rows[0]

    def attempts(self, delivery_id: str | None = None) -> list[Any]:
        query = select(attempts).order_by(attempts.c.delivery_id, attempts.c.number)
        if delivery_id is not None:
            query = query.where(attempts.c.delivery_id == delivery_id)
        with self.db.connect() as conn:
            return list(conn.execute(query))

    def close(self) -> None:
        self.db.dispose()
