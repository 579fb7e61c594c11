"""Endpoint health: per subscription, failures in a row, the last success and status, and the
circuit breaker's state; what an attempt's result does to them is decided here (pure).

    closed ──``circuit_after`` failures in a row──► open (nothing sent until ``circuit_until``)
      ▲                                               │ cooldown over: one probe
      └────────────probe succeeds─────────────────────┤
                                   probe fails: open again for another cooldown

Failing without a single success for ``disable_after`` switches the subscription off
(``enabled`` false, ``disabled_reason`` says why); so does one 410 Gone answer, at once. Each
of the three moments is an operational event (``events.py``). Deliveries wait while the circuit
is open: a claim not yet sent is given back uncounted.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from deltahook.delivery.retry import GONE

DEFAULT_CIRCUIT_AFTER = 20
DEFAULT_COOLDOWN = timedelta(minutes=1)
DEFAULT_DISABLE_AFTER = timedelta(days=5)  # Svix's window


@dataclass(frozen=True, slots=True, kw_only=True)
class HealthPolicy:
    """When a lane's circuit opens, how long it stays open, and when failing switches it off."""

    circuit_after: int = DEFAULT_CIRCUIT_AFTER
    cooldown: timedelta = DEFAULT_COOLDOWN
    disable_after: timedelta = DEFAULT_DISABLE_AFTER


@dataclass(frozen=True, slots=True, kw_only=True)
class Health:
    """One subscription's endpoint health as the store keeps it."""

    failures: int = 0
    """Failed attempts in a row (any success resets it)."""
    failing_since: datetime | None = None
    """When the current run of failures began."""
    last_success_at: datetime | None = None
    last_attempt_at: datetime | None = None
    last_status_code: int | None = None
    """The last attempt's HTTP status (``None``: no answer, e.g. a timeout)."""
    circuit_until: datetime | None = None
    """Set while the circuit is open: nothing is sent before it, then one probe."""

    def blocked(self, now: datetime) -> bool:
        """True while the circuit is open and its cooldown runs."""
        return self.circuit_until is not None and now < self.circuit_until


class Change(StrEnum):
    """A moment in a subscription's health that other subscriptions are told about."""

    OPENED = "EndpointCircuitOpenedEvent"
    """Failures in a row reached ``circuit_after``: the lane stops sending for a cooldown."""
    CLOSED = "EndpointCircuitClosedEvent"
    """A probe (or a request in flight) succeeded while the circuit was open."""
    DISABLED = "SubscriptionDisabledEvent"
    """Nothing but failures for ``disable_after``, or a 410 Gone: the subscription is switched
    off."""


def after_attempt(
    health: Health, *, succeeded: bool, status_code: int | None, now: datetime, policy: HealthPolicy
) -> tuple[Health, Change | None]:
    """The health an attempt's result leaves, and the moment it marks, if any."""
    if succeeded:
        change = Change.CLOSED if health.circuit_until is not None else None
        return Health(last_success_at=now, last_attempt_at=now, last_status_code=status_code), (
            change
        )
    since = health.failing_since or now
    failed = replace(
        health,
        last_attempt_at=now,
        last_status_code=status_code,
        failures=health.failures + 1,
        failing_since=since,
    )
    if status_code == GONE or now - since >= policy.disable_after:
        return failed, Change.DISABLED
    if health.circuit_until is not None:  # a probe (or a straggler) failed: stay open
        return replace(failed, circuit_until=now + policy.cooldown), None
    if failed.failures >= policy.circuit_after:
        return replace(failed, circuit_until=now + policy.cooldown), Change.OPENED
    return failed, None


def disabled_reason(health: Health) -> str:
    """Why a subscription was switched off, in words for the store and the console."""
    if health.last_status_code == GONE:
        at = health.last_attempt_at
        when = at.strftime("%Y-%m-%d %H:%M:%S UTC") if at else "?"
        return (
            f"the endpoint answered 410 Gone at {when} (it says it was removed): switched off "
            "at once, its queued deliveries ended as dead"
        )
    since = health.failing_since
    when = since.strftime("%Y-%m-%d %H:%M:%S UTC") if since else "?"
    last = health.last_status_code
    status = f"last status {last}" if last is not None else "last attempt got no answer"
    return f"failing since {when}: {health.failures} failures in a row, {status}"
