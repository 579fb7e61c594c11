"""The console's status words and marks come from one place in Python (console/words.py): a
template never spells a status, so a status added or renamed shows everywhere alike."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from deltahook.console import words
from deltahook.delivery.status import DeliveryStatus
from deltahook.results import JobStatus

TEMPLATES = Path(words.__file__).with_name("templates")
STATUSES = sorted({*DeliveryStatus, *JobStatus, "in_flight", "delivered_last_hour"})


@pytest.mark.parametrize("template", sorted(p.name for p in TEMPLATES.glob("*.html")))
def test_no_template_spells_a_status(template: str) -> None:
    """No quoted status word in any template: they ask ``words`` for tone, mark and columns."""
    text = (TEMPLATES / template).read_text(encoding="utf-8")
    quoted = {m.group(2) for m in re.finditer(r"""(["'])([a-z_ ]+)\1""", text)}
    assert quoted.isdisjoint(STATUSES), sorted(quoted & set(STATUSES))


@pytest.mark.parametrize(
    ("status", "tone"),
    [
        (DeliveryStatus.DELIVERED, "ok"),  # as it should be
        (DeliveryStatus.PENDING, "warn"),  # not there yet
        (DeliveryStatus.RETRYING, "warn"),  # failed, trying again
        (DeliveryStatus.DEAD, "bad"),  # failed for good
        (JobStatus.SUCCEEDED, "ok"),
        (JobStatus.RUNNING, "warn"),  # every job that did not simply succeed is looked at
        (JobStatus.VALIDATION_FAILED, "warn"),
        (JobStatus.SWEEP_SKIPPED, "warn"),
        (JobStatus.FAILED, "warn"),
        (JobStatus.ABANDONED, "warn"),
    ],
)
def test_every_status_has_a_tone(status: str, tone: str) -> None:
    """A status's pill: ok when all is well, bad when a delivery failed for good, warn else."""
    assert words.tone(status) == tone


def test_failed_deliveries_carry_the_warning_mark() -> None:
    """Retrying and dead deliveries are marked ⚠ in the log; pending and delivered are not."""
    assert [s for s in DeliveryStatus if words.failed(s)] == [
        DeliveryStatus.RETRYING,
        DeliveryStatus.DEAD,
    ]
