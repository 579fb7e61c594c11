"""A delivery's status: the one spelling the store, the dispatcher, the API, the CLI and
/metrics use. ``delivery.queue`` is the one module that moves a delivery between them.

    pending ──attempt fails, schedule left──► retrying ──attempt fails, schedule out──► dead
       │                                         │
       └──────────attempt succeeds───────────────┴──────────────────────────────────► delivered

Resend and recover put a delivery back to pending; deleting its subscription ends a queued one
as dead. A delivery a dispatcher is attempting right now stays pending or retrying and is
*in flight* (its lease runs).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum


class DeliveryStatus(StrEnum):
    """Where a delivery stands."""

    PENDING = "pending"
    """Queued and not attempted since it was queued or resent."""
    RETRYING = "retrying"
    """An attempt failed and another is scheduled (``next_attempt_at``)."""
    DELIVERED = "delivered"
    """An attempt succeeded (a 2xx answer); nothing more is sent."""
    DEAD = "dead"
    """Its retry schedule ran out (or its subscription was deleted); only a resend revives it."""

    @classmethod
    def after(cls, *, succeeded: bool, retry_at: datetime | None) -> DeliveryStatus:
        """The status an attempt leaves: delivered, retrying (at ``retry_at``) or dead."""
        if succeeded:
            return cls.DELIVERED
        return cls.RETRYING if retry_at is not None else cls.DEAD


QUEUED = (DeliveryStatus.PENDING, DeliveryStatus.RETRYING)
"""Statuses a dispatcher may still claim."""
TERMINAL = (DeliveryStatus.DELIVERED, DeliveryStatus.DEAD)
"""Statuses that end a delivery's life (until a resend); the purge removes old ones."""
FAILED = (DeliveryStatus.RETRYING, DeliveryStatus.DEAD)
"""Statuses whose last attempt failed: what recover queues again."""


class StatusFilter(StrEnum):
    """A status the delivery log can be filtered by."""

    PENDING = DeliveryStatus.PENDING.value
    """Pending deliveries."""
    RETRYING = DeliveryStatus.RETRYING.value
    """Retrying deliveries."""
    DELIVERED = DeliveryStatus.DELIVERED.value
    """Delivered deliveries."""
    DEAD = DeliveryStatus.DEAD.value
    """Dead deliveries."""
    FAILED = "failed"
    """Retrying or dead ones: the last attempt failed."""


class FailedFilter(StrEnum):
    """The statuses "retry all failed" can be narrowed to."""

    FAILED = StatusFilter.FAILED.value
    """Retrying or dead."""
    RETRYING = StatusFilter.RETRYING.value
    DEAD = StatusFilter.DEAD.value


FILTERS: dict[str, tuple[DeliveryStatus, ...]] = {
    **{StatusFilter(status): (status,) for status in DeliveryStatus},
    StatusFilter.FAILED: FAILED,
}
"""The statuses each filter selects."""


class Resent(StrEnum):
    """What resending one delivery did."""

    QUEUED = "queued"
    """It is pending again, due now, with the same message id."""
    IN_FLIGHT = "in flight"
    """A dispatcher is attempting it right now: left alone."""
    UNKNOWN = "unknown"
    """No delivery (nor notification) has that id."""
    SUBSCRIPTION_OFF = "subscription off"
    """Its subscription is off: switch it on first."""
    SUBSCRIPTION_DELETED = "subscription deleted"
    """Its subscription was deleted: there is nowhere to send it."""
