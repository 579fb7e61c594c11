"""Operational events: a subscription's circuit opened or closed, or it was switched off.

They are events of the catalogued System types ``EndpointCircuitOpenedEvent``,
``EndpointCircuitClosedEvent`` and ``SubscriptionDisabledEvent`` (``schemas/events``), recorded
in the outbox like any event, so any *other* subscription that wants them receives them (the
failing one itself is never sent news of its own failure).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from deltahook.delivery.health import Change, Health, HealthPolicy, after_attempt, disabled_reason
from deltahook.notifications import Notification, stable_id


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    """What one attempt's result does to its subscription's health."""

    health: Health
    change: Change | None
    event: Notification | None
    disabled: str | None
    """Why the subscription is switched off now, or ``None``."""


def judge(
    subscription: str,
    health: Health,
    *,
    policy: HealthPolicy,
    succeeded: bool,
    status_code: int | None,
    client_id: int,
    now: datetime,
) -> Verdict:
    """The health after one attempt, and the operational event and switch-off it brings."""
    after, change = after_attempt(
        health, succeeded=succeeded, status_code=status_code, now=now, policy=policy
    )
    found = None
    if change is not None:
        found = event(change, subscription=subscription, health=after, client_id=client_id, now=now)
    disabled = disabled_reason(after) if change is Change.DISABLED else None
    return Verdict(health=after, change=change, event=found, disabled=disabled)


def event(
    change: Change, *, subscription: str, health: Health, client_id: int, now: datetime
) -> Notification:
    """The operational event for ``change`` of ``subscription``'s health at ``now``."""
    payload: dict[str, Any] = {"ClientId": client_id, "SubscriptionName": subscription}
    if change is Change.CLOSED:
        payload["ClosedAt"] = _iso(now)
    else:
        payload["ConsecutiveFailures"] = health.failures
        payload["FailingSince"] = _iso(health.failing_since or now)
        if health.last_status_code is not None:
            payload["LastStatusCode"] = health.last_status_code
    if change is Change.OPENED and health.circuit_until is not None:
        payload["ProbeAt"] = _iso(health.circuit_until)
    if change is Change.DISABLED:
        payload["Reason"] = disabled_reason(health)
    return Notification(
        id=stable_id("operational", change.value, subscription, _iso(now)),
        type=change.value,
        family="event",
        payload=payload,
        created_at=now,
        entity_kind="subscription",
        entity_key=subscription,
    )


def client_id_of(constants: Mapping[str, Any]) -> int:
    """The ``ClientId`` operational events carry: the project constant's, or 0."""
    value = constants.get("ClientId")
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")
