"""What the console shows for a status, in one place: templates ask (``tone``, ``failed``, the
column lists), they never spell a status themselves."""

from __future__ import annotations

from typing import Any

from deltahook.delivery.status import FAILED, DeliveryStatus
from deltahook.results import JobStatus

_TONES: dict[str, str] = {
    DeliveryStatus.DELIVERED: "ok",
    DeliveryStatus.PENDING: "warn",
    DeliveryStatus.RETRYING: "warn",
    DeliveryStatus.DEAD: "bad",
    JobStatus.SUCCEEDED: "ok",
}
_UNKNOWN_TONE = "warn"  # every other job status: look at it

RECENT = (DeliveryStatus.DELIVERED, DeliveryStatus.RETRYING, DeliveryStatus.DEAD)
"""The delivery figures of each type on the landing page."""
QUEUE = (
    (DeliveryStatus.PENDING, "Pending"),
    (DeliveryStatus.RETRYING, "Retrying"),
    (DeliveryStatus.DEAD, "Dead"),
    ("in_flight", "In flight"),
    ("delivered_last_hour", "Delivered (1 h)"),
)
"""The Subscriptions page's queue columns: ``log.status``'s figures and their headings."""
JOB_COUNTS = (
    "received",
    "rejected",
    "unchanged",
    "inserted",
    "updated",
    "deleted",
    "notifications",
)
"""The Jobs page's count columns."""
_BAD_FIGURES = frozenset({*FAILED, "rejected"})


def tone(status: str) -> str:
    """The pill class of a delivery's or job's status: ok, warn or bad."""
    return _TONES.get(status, _UNKNOWN_TONE)


def failed(status: str) -> bool:
    """Whether a delivery's last attempt failed (the log marks it ⚠)."""
    return status in FAILED


def figure(key: str, count: int | None) -> str:
    """The class of a table cell counting ``key``: zero, bad (failures, rejects) or plain."""
    if not count:
        return "zero"
    return "bad" if key in _BAD_FIGURES else ""


def install(globals_: dict[str, Any]) -> None:
    """Make these available to every template."""
    globals_.update(
        tone=tone, failed=failed, figure=figure, RECENT=RECENT, QUEUE=QUEUE, JOB_COUNTS=JOB_COUNTS
    )
