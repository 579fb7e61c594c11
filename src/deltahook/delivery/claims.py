"""What a claim holds and what an attempt's end records: the values the dispatcher and
``queue`` pass each other, and how long a lease lasts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from deltahook.delivery.status import DeliveryStatus


@dataclass(frozen=True, slots=True, kw_only=True)
class Claimed:
    """A delivery this dispatcher holds the lease of, with what it needs to send it."""

    id: str
    notification_id: str
    subscription: str
    event_type: str
    attempt: int
    """This attempt's number over the delivery's life (1-based); it numbers the log."""
    step: int
    """This attempt's number since the last resend; it drives the retry schedule."""
    body: bytes
    """The stored payload (a header style may wrap it: ``envelope.body_for``)."""
    detected_at: datetime
    """When the change was detected: the notification's stored time."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Finished:
    """The recorded end of one attempt: the log row and the delivery's next state."""

    delivery_id: str
    attempt: int
    started_at: datetime
    duration_ms: float
    status_code: int | None
    excerpt: str | None
    error: str | None
    status: DeliveryStatus
    next_attempt_at: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Want:
    """How many deliveries of one subscription to claim, and for how long."""

    count: int
    lease: timedelta
    retries: int
    """Retries the subscription's schedule allows; a lost last attempt makes the delivery dead."""
    rate: float | None = None
    """The subscription's rate limit (requests a second), if it has one."""
    burst: int = 1
    """Requests its rate limit allows at once."""
    probe: timedelta | None = None
    """Set when the claim is its open circuit's probe: how long taking the probe holds the
    circuit open for the other dispatchers (``shared_health.claim_probe``)."""


def lease_for(timeout: float, *, margin: timedelta) -> timedelta:
    """A lease that covers a claimed delivery's wait for a slot and its attempt, with margin.

    A dispatcher claims at most twice a subscription's concurrency, so a claimed delivery waits
    at most about one attempt's time before its own starts: three timeouts cover both.
    """
    return timedelta(seconds=3 * timeout) + margin
