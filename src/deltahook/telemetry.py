"""Prometheus metrics: counters and a histogram incremented where the work happens, and gauges
of the queue read from the store by one cheap query when scraped.

Counters belong to the process that does the work (``serve`` counts its API ingests and its
in-process dispatcher; ``deliver --metrics-port`` its own attempts), so they only ever go up:
purging the delivery log changes nothing, and Prometheus' ``rate()`` holds. A scrape never
scans the log: the queue gauges read the queued deliveries through the (status,
next_attempt_at) index, and the heartbeat gauges the ``dispatchers`` table.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime

import prometheus_client
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func, select

from deltahook.clock import Clock
from deltahook.delivery import heartbeat
from deltahook.delivery.status import QUEUED
from deltahook.notifications import Notification
from deltahook.store.db import reading
from deltahook.store.tables import deliveries

prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]  # no *_created

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
OUTCOMES = ("received", "rejected", "unchanged", "inserted", "updated", "deleted")

ATTEMPTS = Counter(
    "deltahook_delivery_attempts",
    "Webhook attempts by subscription and outcome (delivered, retrying, dead).",
    ["subscription", "outcome"],
)
ATTEMPT_SECONDS = Histogram(
    "deltahook_delivery_attempt_duration_seconds",
    "Webhook request duration, redirects included.",
    buckets=BUCKETS_S,
)
NOTIFICATIONS = Counter(
    "deltahook_notifications",
    "Notifications and events recorded with their deliveries, by type.",
    ["type"],
)
ENTITIES = Counter(
    "deltahook_ingested_entities", "Feed records by kind and outcome.", ["kind", "outcome"]
)
JOBS = Counter("deltahook_ingest_jobs", "Ingest jobs by kind and status.", ["kind", "status"])


def attempt(subscription: str, outcome: str, *, seconds: float) -> None:
    """Count one webhook attempt and its duration."""
    ATTEMPTS.labels(subscription, outcome).inc()
    ATTEMPT_SECONDS.observe(seconds)


def recorded(items: Iterable[Notification]) -> None:
    """Count notifications and events as they are recorded."""
    for type_, count in collections.Counter(item.type for item in items).items():
        NOTIFICATIONS.labels(type_).inc(count)


def job_ended(kind: str, status: str, counts: Mapping[str, int]) -> None:
    """Count an ingest job that ended, and its records by outcome."""
    JOBS.labels(kind, status).inc()
    for outcome in OUTCOMES:
        if counts.get(outcome):
            ENTITIES.labels(kind, outcome).inc(counts[outcome])


class StoreGauges(Collector):
    """Queue depth, the oldest due delivery's age and the dispatchers' heartbeat, read at scrape
    time with one indexed query each."""

    def __init__(self, db: Engine, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    def collect(self) -> Iterator[Metric]:
        now = self._clock()
        d = deliveries.c
        query = (
            select(d.status, func.count(), func.min(d.next_attempt_at))
            .where(d.status.in_(QUEUED))
            .group_by(d.status)
        )
        with reading(self._db) as conn:  # a scrape never waits for an ingest's batch
            alive = heartbeat.liveness(conn, now=now)
            rows = {status: (count, due) for status, count, due in conn.execute(query)}
        depth = GaugeMetricFamily(
            "deltahook_queue_depth", "Deliveries queued, by status.", labels=["status"]
        )
        for status in QUEUED:
            depth.add_metric([status.value], rows.get(status.value, (0, None))[0])
        yield depth
        yield GaugeMetricFamily(
            "deltahook_queue_oldest_due_age_seconds",
            "How long the oldest due delivery has waited (0: none is due).",
            value=_age([due for _, due in rows.values() if due is not None], now),
        )
        yield GaugeMetricFamily(
            "deltahook_dispatchers_running",
            "Dispatchers that sent a heartbeat in the last 30 seconds.",
            value=alive.alive,
        )
        if alive.age_s is not None:
            yield GaugeMetricFamily(
                "deltahook_dispatcher_heartbeat_age_seconds",
                "Seconds since the newest dispatcher heartbeat.",
                value=float(alive.age_s),
            )


def _age(due: list[datetime], now: datetime) -> float:
    if not due:
        return 0.0
    return max((now - min(due)).total_seconds(), 0.0)


class _ThisProcess(Collector):
    """The counters of this process (the default registry)."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


def registry(db: Engine, clock: Clock) -> CollectorRegistry:
    """A registry with this process's counters and the store's gauges."""
    found = CollectorRegistry(auto_describe=False)
    found.register(_ThisProcess())
    found.register(StoreGauges(db, clock))
    return found


def render(db: Engine, *, now: datetime) -> bytes:
    """Every metric in the Prometheus text format, with the store's gauges as of ``now``."""
    return generate_latest(registry(db, lambda: now))
