"""Lanes: how much each subscription claims, and how they follow the stored settings."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from deltahook.delivery.health import Health
from deltahook.delivery.lanes import Lane, Lanes
from deltahook.delivery.subscriptions import Credentials
from tests.delivery_support import T0
from tests.delivery_support import subscription as sub

MARGIN = timedelta(seconds=30)


def lane(held: int, *, active: bool = True, health: Health | None = None) -> Lane:
    creds = Credentials(headers={}, secrets=())
    return Lane(
        sub=sub(),
        creds=creds,
        slots=asyncio.Semaphore(10),
        held=held,
        active=active,
        health=health or Health(),
    )


@pytest.mark.parametrize(
    ("held", "seconds", "count"),
    [
        (0, 59, None),  # open: nothing during the cooldown
        (0, 60, 1),  # cooldown over: one probe
        (1, 61, None),  # the probe in flight: nothing more
    ],
)
def test_an_open_circuit_claims_nothing_then_one_probe(
    held: int, seconds: int, count: int | None
) -> None:
    """A lane whose circuit is open claims nothing until it may probe, then one, alone."""
    opened = Health(failures=20, circuit_until=T0 + timedelta(seconds=60))
    want = lane(held, health=opened).want(
        prefetch=2, margin=MARGIN, now=T0 + timedelta(seconds=seconds)
    )
    assert (want.count if want else None) == count


@pytest.mark.parametrize(
    ("held", "count"),
    [
        (0, 20),  # empty: two rounds of ten
        (10, 10),  # one round left: top up to two
        (11, None),  # more than a round waiting: claim nothing, leases stay short
        (20, None),
    ],
)
def test_a_lane_claims_up_to_two_rounds_once_one_is_left(held: int, count: int | None) -> None:
    """A lane claims up to two rounds of its concurrency, once at most one round is held."""
    want = lane(held).want(prefetch=2, margin=MARGIN, now=T0)
    assert (want.count if want else None) == count
    if want:
        assert want.lease == timedelta(seconds=45)  # three 5 s timeouts and the margin
        assert want.retries == 16


def test_a_paused_lane_claims_nothing() -> None:
    """A paused lane claims nothing, however empty it is."""
    assert lane(0, active=False).want(prefetch=2, margin=MARGIN, now=T0) is None


def test_refill_is_due_when_the_backlog_comes_down_to_one_round() -> None:
    """A lane asks for more work once its backlog comes down to one round, not before."""
    assert lane(10).refill_due(prefetch=2)
    assert not lane(9).refill_due(prefetch=2)


def test_lanes_follow_the_store() -> None:
    """New, switched off, missing a variable, resized, gone."""
    lanes = Lanes(env={})
    lanes.update([sub(), sub(name="erp")])
    assert set(lanes.wants(prefetch=2, margin=MARGIN, now=T0)) == {"shop", "erp"}

    lanes.update([sub(enabled=False), sub(name="erp")])
    assert set(lanes.wants(prefetch=2, margin=MARGIN, now=T0)) == {"erp"}

    lanes.update([sub(), sub(name="erp", headers={"X-Key": "${MISSING}"})])
    assert set(lanes.wants(prefetch=2, margin=MARGIN, now=T0)) == {"shop"}

    before = lanes["shop"].slots
    lanes.update([sub(max_concurrency=3)])
    assert lanes["shop"].slots is not before
    assert lanes.wants(prefetch=2, margin=MARGIN, now=T0)["shop"].count == 6
    assert set(lanes.wants(prefetch=2, margin=MARGIN, now=T0)) == {"shop"}  # erp is gone
