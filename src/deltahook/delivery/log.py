"""The delivery log for operators: list, status, resend and recover.

A delivery's status is a ``status.DeliveryStatus``; ``failed`` in filters means retrying or
dead. Time filters apply to when the delivery was queued. A delivery a dispatcher is attempting
right now is *in flight* (its lease runs). Resend and recover choose the deliveries here;
``queue.requeue`` writes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Connection, and_, func, or_, select

from deltahook.clock import as_utc
from deltahook.delivery import queue
from deltahook.delivery import subscriptions as subs
from deltahook.delivery.retry import parse_duration
from deltahook.delivery.status import FAILED, FILTERS, QUEUED, DeliveryStatus, Resent, StatusFilter
from deltahook.errors import DeliveryError
from deltahook.store.tables import attempts, deliveries, notifications

ORDER = (deliveries.c.created_at.desc(), deliveries.c.id.desc())
"""The log's order, newest first: the (event_type, created_at, id) index holds it."""
DEFAULT_RETENTION = timedelta(days=7)
FILTER_STATUSES = tuple(f.value for f in StatusFilter)


@dataclass(frozen=True, slots=True, kw_only=True)
class LogFilter:
    """Which deliveries ``entries`` lists; ``None`` means any."""

    subscription: str | None = None
    event_type: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    status: str | None = None
    limit: int = 50
    after: tuple[datetime, str] | None = None
    """The (created_at, id) of the last entry of the previous page: list the ones after it."""


def parse_when(text: str, *, now: datetime) -> datetime:
    """``2026-11-24T10:00:00+01:00`` (no zone means UTC), or a duration ago: ``30m``, ``2d``."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        try:
            return now - parse_duration(text)
        except ValueError:
            raise DeliveryError(
                f"{text!r} is not a time: use ISO 8601 (2026-11-24T10:00:00Z) or a duration "
                "ago such as 30m, 2h or 7d"
            ) from None
    if when.tzinfo is None:
        return when.replace(tzinfo=UTC)
    try:
        return as_utc(when)
    except ValueError as exc:
        raise DeliveryError(str(exc)) from None


def parse_age(text: str) -> timedelta:
    try:
        return parse_duration(text)
    except ValueError:
        raise DeliveryError(f"{text!r} is not a duration: use e.g. 12h, 7d or 1d12h") from None


def entries(
    conn: Connection,
    where: LogFilter,
    *,
    now: datetime,
    payload: bool = False,
    with_attempts: bool = False,
) -> list[dict[str, Any]]:
    """Deliveries matching ``where``, newest first, as JSON-ready dictionaries."""
    d = deliveries.c
    columns = [deliveries, notifications.c.payload] if payload else [deliveries]
    query = (
        select(*columns)
        .join(notifications, notifications.c.id == d.notification_id)
        .order_by(*ORDER)
        .limit(where.limit)
    )
    for condition in _conditions(where):
        query = query.where(condition)
    rows = conn.execute(query).all()
    found = [_entry(row, now=now, payload=payload) for row in rows]
    if with_attempts and found:
        by_id = _attempts_of(conn, [e["id"] for e in found])
        for entry in found:
            entry["attempt_log"] = by_id.get(entry["id"], [])
    return found


def _conditions(where: LogFilter) -> list[Any]:
    d = deliveries.c
    conditions: list[Any] = []
    if where.subscription is not None:
        conditions.append(d.subscription == where.subscription)
    if where.event_type is not None:
        conditions.append(d.event_type == where.event_type)
    if where.since is not None:
        conditions.append(d.created_at >= where.since)
    if where.until is not None:
        conditions.append(d.created_at < where.until)
    if where.status is not None:
        conditions.append(d.status.in_(FILTERS[where.status]))
    if where.after is not None:
        at, last_id = where.after  # pages follow the order: newest first, then id descending
        conditions.append(or_(d.created_at < at, and_(d.created_at == at, d.id < last_id)))
    return conditions


def _entry(row: Any, *, now: datetime, payload: bool) -> dict[str, Any]:
    in_flight = row.lease_until is not None and row.lease_until > now
    entry = {
        "id": row.id,
        "message_id": row.notification_id,
        "subscription": row.subscription,
        "event_type": row.event_type,
        "status": row.status,
        "in_flight": in_flight,
        "attempts": row.attempts,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "next_attempt_at": None if in_flight else row.next_attempt_at,
        "last_status_code": row.last_status_code,
        "last_error": row.last_error,
    }
    if payload:
        entry["payload"] = orjson.loads(row.payload)
    return entry


def _attempts_of(conn: Connection, ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    a = attempts.c
    query = select(attempts).where(a.delivery_id.in_(ids)).order_by(a.delivery_id, a.number, a.id)
    found: dict[str, list[dict[str, Any]]] = {}
    for row in conn.execute(query):
        found.setdefault(row.delivery_id, []).append(
            {
                "number": row.number,
                "started_at": row.started_at,
                "duration_ms": row.duration_ms,
                "status_code": row.status_code,
                "error": row.error,
                "response_excerpt": row.response_excerpt,
                "worker": row.worker,
            }
        )
    return found


def status(conn: Connection, *, now: datetime) -> list[dict[str, Any]]:
    """Per subscription: queued, failing and recent figures, and how late the oldest due one is."""
    d = deliveries.c
    known = {s.name: s for s in subs.load(conn)}
    table: dict[str, dict[str, Any]] = {}

    def row_for(name: str) -> dict[str, Any]:
        sub = known.get(name)
        return table.setdefault(
            name,
            {
                "subscription": name,
                "enabled": sub.enabled if sub else False,
                "source": sub.source if sub else "unknown",
                "paused": sub.paused if sub and sub.enabled else None,
                "circuit_open_until": circuit_open_until(sub, now),
                "failures": sub.health.failures if sub else 0,
                "last_status_code": sub.health.last_status_code if sub else None,
                "disabled_reason": sub.disabled_reason if sub and not sub.enabled else None,
                **{status.value: 0 for status in (*QUEUED, DeliveryStatus.DEAD)},
                "in_flight": 0,
                "delivered_last_hour": 0,
                "oldest_due_age_s": None,
            },
        )

    for name in known:
        row_for(name)
    counts = select(d.subscription, d.status, func.count()).group_by(d.subscription, d.status)
    for name, state, count in conn.execute(
        counts.where(d.status.in_((*QUEUED, DeliveryStatus.DEAD)))
    ):
        row_for(name)[DeliveryStatus(state).value] = count
    recent = and_(d.status == DeliveryStatus.DELIVERED, d.updated_at >= now - timedelta(hours=1))
    for name, count in conn.execute(
        select(d.subscription, func.count()).where(recent).group_by(d.subscription)
    ):
        row_for(name)["delivered_last_hour"] = count
    flying = and_(d.status.in_(QUEUED), d.lease_until > now)
    for name, count in conn.execute(
        select(d.subscription, func.count()).where(flying).group_by(d.subscription)
    ):
        row_for(name)["in_flight"] = count
    due = and_(d.status.in_(QUEUED), d.next_attempt_at <= now)
    for name, oldest in conn.execute(
        select(d.subscription, func.min(d.next_attempt_at)).where(due).group_by(d.subscription)
    ):
        if oldest is not None:
            age = now - _aware(oldest)
            row_for(name)["oldest_due_age_s"] = round(age.total_seconds(), 3)
    return [table[name] for name in sorted(table)]


def circuit_open_until(sub: subs.Subscription | None, now: datetime) -> str | None:
    """When an enabled subscription's open circuit lets one probe through (ISO), if it is open."""
    if sub is None or not sub.enabled or not sub.health.blocked(now):
        return None
    assert sub.health.circuit_until is not None
    return sub.health.circuit_until.isoformat()


def _aware(value: Any) -> datetime:
    """``min()`` bypasses the column type on some dialects: make the value an aware UTC time."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def resend(conn: Connection, ids: Sequence[str], *, now: datetime) -> dict[str, Resent]:
    """Queue deliveries again, due now, same message id; a notification id means all of its.

    Returns what happened per given id (``status.Resent``).
    """
    d = deliveries.c
    on = {s.name: s.enabled for s in subs.load(conn)}
    outcome: dict[str, Resent] = {}
    for given in ids:
        rows = conn.execute(
            select(d.id, d.subscription, d.lease_until).where(
                or_(d.id == given, d.notification_id == given)
            )
        ).all()
        if not rows:
            outcome[given] = Resent.UNKNOWN
            continue
        for row in rows:
            if row.lease_until is not None and row.lease_until > now:
                outcome[row.id] = Resent.IN_FLIGHT
            elif row.subscription not in on:
                outcome[row.id] = Resent.SUBSCRIPTION_DELETED
            elif not on[row.subscription]:
                outcome[row.id] = Resent.SUBSCRIPTION_OFF
            else:
                queue.requeue(conn, d.id == row.id, now=now)
                outcome[row.id] = Resent.QUEUED
    return outcome


def recover(
    conn: Connection,
    subscription: str,
    *,
    since: datetime,
    until: datetime | None = None,
    now: datetime,
) -> int:
    """Queue every failed (retrying or dead) delivery of a subscription queued in the window."""
    require_on(conn, subscription)
    d = deliveries.c
    window = [
        d.subscription == subscription,
        d.status.in_(FAILED),
        d.created_at >= since,
        or_(d.lease_until.is_(None), d.lease_until <= now),
    ]
    if until is not None:
        window.append(d.created_at < until)
    return queue.requeue(conn, and_(*window), now=now)


def require_on(conn: Connection, subscription: str) -> None:
    """Refuse a subscription that is unknown or off: what it would queue again would wait."""
    if not subs.get(conn, subscription).enabled:
        raise DeliveryError(
            f"subscription {subscription!r} is off: switch it on first "
            f"(deltahook subscriptions enable {subscription})"
        )


def retry_failed(conn: Connection, where: LogFilter, *, now: datetime, limit: int) -> int:
    """Queue again, due now, up to ``limit`` failed (retrying or dead) deliveries matching
    ``where``, newest first, whose subscription is on and which no dispatcher holds."""
    enabled = [s.name for s in subs.load(conn) if s.enabled]
    if not _failed(where) or not enabled:
        return 0
    d = deliveries.c
    query = (
        select(d.id)
        .where(*_failed_matching(where), d.subscription.in_(enabled))
        .where(or_(d.lease_until.is_(None), d.lease_until <= now))
        .order_by(*ORDER)
        .limit(limit)
    )
    ids = list(conn.scalars(query))
    return queue.requeue(conn, d.id.in_(ids), now=now) if ids else 0


def left_off(conn: Connection, where: LogFilter) -> dict[str, bool]:
    """The subscriptions, off or deleted, with failed deliveries matching ``where``: those
    ``retry_failed`` leaves alone, by name, each with whether it was deleted."""
    known = {s.name: s.enabled for s in subs.load(conn)}
    d = deliveries.c
    query = (
        select(d.subscription)
        .distinct()
        .where(*_failed_matching(where))
        .where(d.subscription.not_in([name for name, on in known.items() if on]))
        .order_by(d.subscription)
    )
    return {name: name not in known for name in conn.scalars(query)}


def _failed_matching(where: LogFilter) -> list[Any]:
    """The conditions of the failed deliveries ``where`` picks (its paging left out)."""
    conditions = _conditions(replace(where, status=None, after=None))
    return [*conditions, deliveries.c.status.in_(_failed(where))]


def _failed(where: LogFilter) -> list[DeliveryStatus]:
    """The failed statuses ``where``'s status filter leaves (none for a delivered filter)."""
    wanted = set(FAILED)
    if where.status is not None:
        wanted &= set(FILTERS[where.status])
    return sorted(wanted)
