"""Prometheus metrics, read from the store so that every process's work is counted.

Ingest figures come from ``ingest_jobs`` (kept for good: true counters). Notification,
delivery and attempt figures describe the delivery log, which keeps 7 days by default: they
are gauges, and the attempt-duration histogram covers the attempts still in the log.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import Connection, case, func, select

from deltahook.delivery import heartbeat
from deltahook.delivery.status import DeliveryStatus
from deltahook.store.tables import attempts, deliveries, ingest_jobs, notifications

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OUTCOMES = ("received", "rejected", "unchanged", "inserted", "updated", "deleted")
BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def render(conn: Connection, *, now: datetime) -> str:
    """Every metric, in the Prometheus text exposition format (version 0.0.4)."""
    lines: list[str] = []
    _dispatchers(conn, lines, now=now)
    _ingest(conn, lines)
    _notifications(conn, lines)
    _deliveries(conn, lines)
    _latency(conn, lines)
    return "\n".join(lines) + "\n"


def _family(lines: list[str], name: str, kind: str, text: str) -> None:
    lines.append(f"# HELP {name} {text}")
    lines.append(f"# TYPE {name} {kind}")


def _sample(name: str, labels: dict[str, str], value: float) -> str:
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
    number = repr(float(value)) if isinstance(value, float) else str(value)
    return f"{name}{{{inner}}} {number}" if inner else f"{name} {number}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _dispatchers(conn: Connection, lines: list[str], *, now: datetime) -> None:
    alive = heartbeat.liveness(conn, now=now)
    name = "deltahook_dispatchers_running"
    _family(lines, name, "gauge", "Dispatchers that sent a heartbeat in the last 30 seconds.")
    lines.append(_sample(name, {}, alive.alive))
    name = "deltahook_dispatcher_heartbeat_age_seconds"
    if alive.age_s is not None:
        _family(lines, name, "gauge", "Seconds since the newest dispatcher heartbeat.")
        lines.append(_sample(name, {}, float(alive.age_s)))


def _ingest(conn: Connection, lines: list[str]) -> None:
    j = ingest_jobs.c
    sums = [func.coalesce(func.sum(getattr(j, name)), 0) for name in (*OUTCOMES, "notifications")]
    rows = conn.execute(select(j.kind, *sums).group_by(j.kind).order_by(j.kind)).all()
    name = "deltahook_ingested_entities_total"
    _family(lines, name, "counter", "Feed records by kind and outcome, over every ingest job.")
    for kind, *values in rows:
        for outcome, value in zip(OUTCOMES, values, strict=False):
            lines.append(_sample(name, {"kind": kind, "outcome": outcome}, int(value)))
    name = "deltahook_notifications_total"
    _family(lines, name, "counter", "Notifications the rules decided, by entity kind.")
    for kind, *values in rows:
        lines.append(_sample(name, {"kind": kind}, int(values[-1])))
    counts = select(j.kind, j.status, func.count()).group_by(j.kind, j.status)
    name = "deltahook_ingest_jobs_total"
    _family(lines, name, "counter", "Ingest jobs by kind and status.")
    for kind, status, count in conn.execute(counts.order_by(j.kind, j.status)):
        lines.append(_sample(name, {"kind": kind, "status": status}, int(count)))


def _notifications(conn: Connection, lines: list[str]) -> None:
    n = notifications.c
    query = select(n.type, n.family, func.count()).group_by(n.type, n.family).order_by(n.type)
    name = "deltahook_logged_notifications"
    _family(lines, name, "gauge", "Notifications and events in the delivery log, by type.")
    for kind, family, count in conn.execute(query):
        lines.append(_sample(name, {"type": kind, "family": family}, int(count)))


def _deliveries(conn: Connection, lines: list[str]) -> None:
    d = deliveries.c
    query = select(d.subscription, d.status, func.count()).group_by(d.subscription, d.status)
    name = "deltahook_deliveries"
    _family(lines, name, "gauge", "Deliveries in the log by subscription and outcome (status).")
    for subscription, status, count in conn.execute(query.order_by(d.subscription, d.status)):
        labels = {"subscription": subscription, "status": DeliveryStatus(status).value}
        lines.append(_sample(name, labels, int(count)))
    a = attempts.c
    outcome = case(
        (a.status_code.between(200, 299), "success"),
        (a.status_code.is_not(None), "http_error"),
        else_="error",
    )
    name = "deltahook_delivery_attempts"
    _family(lines, name, "gauge", "Attempts in the log by outcome: success, http_error, error.")
    for label, count in conn.execute(select(outcome, func.count()).group_by(outcome)):
        lines.append(_sample(name, {"outcome": label}, int(count)))


def _latency(conn: Connection, lines: list[str]) -> None:
    a = attempts.c
    ms = a.duration_ms
    columns = [func.coalesce(func.sum(case((ms <= b * 1000, 1), else_=0)), 0) for b in BUCKETS_S]
    row = conn.execute(select(*columns, func.count(), func.coalesce(func.sum(ms), 0.0))).one()
    *counts, total, sum_ms = row
    name = "deltahook_delivery_attempt_duration_seconds"
    _family(lines, name, "histogram", "Webhook request duration of the attempts in the log.")
    lines.extend(_buckets(name, BUCKETS_S, [int(c) for c in counts], int(total)))
    lines.append(_sample(f"{name}_sum", {}, float(sum_ms) / 1000))
    lines.append(_sample(f"{name}_count", {}, int(total)))


def _buckets(
    name: str, bounds: Sequence[float], counts: Iterable[int], total: int
) -> Iterable[str]:
    for bound, count in zip(bounds, counts, strict=True):
        yield _sample(f"{name}_bucket", {"le": repr(bound)}, count)
    yield _sample(f"{name}_bucket", {"le": "+Inf"}, total)
