"""Endpoint health decisions, the rate limit's bucket and the operational events' payloads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from deltahook.catalog.events import load_event_catalog
from deltahook.delivery import operational
from deltahook.delivery.health import Change, Health, HealthPolicy, after_attempt, disabled_reason
from deltahook.delivery.ratelimit import refill
from deltahook.delivery.settings import SubscriptionSettings

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
POLICY = HealthPolicy(
    circuit_after=3, cooldown=timedelta(minutes=1), disable_after=timedelta(days=1)
)
EVENTS_DIR = Path(__file__).resolve().parents[2] / "schemas" / "events"


def _fail(health: Health, at: datetime, code: int | None = 500) -> tuple[Health, Change | None]:
    return after_attempt(health, succeeded=False, status_code=code, now=at, policy=POLICY)


def test_the_third_failure_in_a_row_opens_the_circuit_for_a_cooldown() -> None:
    """Failures count up; the one reaching circuit_after opens the circuit until now+cooldown."""
    health, change = _fail(Health(), T0)
    health, change = _fail(health, T0 + timedelta(seconds=1))
    assert (health.failures, change, health.circuit_until) == (2, None, None)
    health, change = _fail(health, T0 + timedelta(seconds=2))
    assert change is Change.OPENED
    assert health.circuit_until == T0 + timedelta(seconds=62)
    assert health.failing_since == T0
    assert health.blocked(T0 + timedelta(seconds=61))
    assert not health.blocked(T0 + timedelta(seconds=62))


def test_a_failed_probe_reopens_quietly_and_a_success_closes() -> None:
    """A failed probe opens the circuit again with no new event; a success closes it."""
    opened = Health(failures=3, failing_since=T0, circuit_until=T0 + timedelta(minutes=1))
    again, change = _fail(opened, T0 + timedelta(minutes=1))
    assert change is None
    assert again.circuit_until == T0 + timedelta(minutes=2)
    closed, change = after_attempt(
        again, succeeded=True, status_code=200, now=T0 + timedelta(minutes=2), policy=POLICY
    )
    assert change is Change.CLOSED
    assert closed == Health(
        last_success_at=T0 + timedelta(minutes=2),
        last_attempt_at=T0 + timedelta(minutes=2),
        last_status_code=200,
    )


def test_failing_for_the_whole_window_disables() -> None:
    """A failure disable_after past the first of the run marks the subscription disabled."""
    failing = Health(failures=40, failing_since=T0, circuit_until=T0 + timedelta(hours=23))
    health, change = _fail(failing, T0 + timedelta(days=1), code=None)
    assert change is Change.DISABLED
    assert disabled_reason(health) == (
        "failing since 2026-11-24 10:00:00 UTC: 41 failures in a row, last attempt got no answer"
    )


def test_one_410_gone_disables_at_once_and_says_so() -> None:
    """A single 410 Gone, first failure or not, switches the subscription off: the endpoint
    said it was removed; the reason names the answer and when."""
    health, change = _fail(Health(last_success_at=T0), T0 + timedelta(minutes=5), code=410)
    assert change is Change.DISABLED
    assert (health.failures, health.last_status_code) == (1, 410)
    assert disabled_reason(health) == (
        "the endpoint answered 410 Gone at 2026-11-24 10:05:00 UTC (it says it was removed): "
        "switched off at once, its queued deliveries ended as dead"
    )
    _health, change = _fail(Health(), T0, code=404)
    assert change is None  # other 4xx answers are failures like any other


@pytest.mark.parametrize(
    ("tokens", "seconds", "expected"),
    [
        (None, 0.0, 5.0),  # a bucket never used is full
        (0.0, 0.2, 1.0),  # five a second: one token each 0.2 s
        (0.0, 100.0, 5.0),  # never more than the burst
        (2.5, 0.0, 2.5),  # no time, no tokens
    ],
)
def test_the_bucket_refills_at_its_rate_up_to_its_burst(
    tokens: float | None, seconds: float, expected: float
) -> None:
    """refill adds rate tokens a second since the last spend, capped at burst."""
    now = T0 + timedelta(seconds=seconds)
    assert refill(tokens, T0, now=now, rate=5, burst=5) == pytest.approx(expected)


@pytest.mark.parametrize("change", list(Change))
def test_every_operational_event_validates_against_its_schema(change: Change) -> None:
    """The payload of each operational event is valid for its catalogued type."""
    catalog = load_event_catalog(EVENTS_DIR)
    health = Health(
        failures=20, failing_since=T0, last_status_code=503, circuit_until=T0 + timedelta(1)
    )
    event = operational.event(change, subscription="erp", health=health, client_id=7, now=T0)
    assert catalog.require(event.type).family == "event"
    catalog.validate(event.type, dict(event.payload))


def test_durations_are_read_from_words_or_seconds() -> None:
    """circuit_cooldown and disable_after take '90s', '5d' or seconds; zero is refused."""
    sub = SubscriptionSettings(
        name="erp",
        url="https://erp.example/",
        event_types=["*"],
        circuit_cooldown="90s",
        disable_after=3600,
    )
    assert (sub.circuit_cooldown, sub.disable_after) == (timedelta(seconds=90), timedelta(hours=1))
    with pytest.raises(ValueError, match="longer than zero"):
        SubscriptionSettings(
            name="erp", url="https://erp.example/", event_types=["*"], disable_after=0
        )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "'' is not a duration"),
        ("1.5h", "'1.5h' is not a duration"),
        ("5m, 1h", "'5m, 1h' is not a duration"),  # one duration, not a schedule
        ("99999999999d", "'99999999999d' is longer than 10 years"),
    ],
)
def test_a_bad_duration_is_named_as_a_duration_not_a_retry_schedule(
    value: str, message: str
) -> None:
    """A duration field's mistake speaks of that duration, not of a retry schedule's items."""
    with pytest.raises(ValueError, match=message) as raised:
        SubscriptionSettings(
            name="erp", url="https://erp.example/", event_types=["*"], disable_after=value
        )
    assert "retry schedule" not in str(raised.value)
