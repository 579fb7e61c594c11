"""Lanes: how much each subscription claims, and how they follow the stored settings."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from deltahook.delivery.credentials import Credentials
from deltahook.delivery.health import Health, HealthPolicy
from deltahook.delivery.lanes import Lane, Lanes
from deltahook.delivery.shared_health import Outcome
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


def _open_lanes() -> Lanes:
    """Lanes whose one lane, shop, holds a clean record in memory."""
    lanes = Lanes()
    lanes.update([sub()])
    return lanes


def test_a_lane_takes_the_health_another_dispatcher_left_in_the_store() -> None:
    """Another dispatcher opened shop's circuit: the next read of the subscriptions holds this
    dispatcher's lane back too (it kept its own clean record before)."""
    lanes = _open_lanes()
    opened = Health(failures=20, failing_since=T0, circuit_until=T0 + timedelta(minutes=1))
    lanes.update([sub(health=opened)])
    assert lanes["shop"].health == opened
    assert lanes.wants(prefetch=2, margin=MARGIN, now=T0) == {}


def test_a_lanes_own_outcomes_not_yet_stored_count_on_top_of_the_store() -> None:
    """Two failures in the store, two of this dispatcher's on their way to it: four in a row,
    the policy's limit, open the lane's circuit now."""
    policy = HealthPolicy(circuit_after=4)
    stored = Health(failures=2, failing_since=T0)
    failed = [Outcome(succeeded=False, status_code=503, at=T0)] * 2
    lanes = Lanes()
    lanes.update([sub(health=stored, policy=policy)], {"shop": failed})
    assert lanes["shop"].health.failures == 4
    assert lanes["shop"].health.blocked(T0)
    lanes.adopt({"shop": Health()}, {})  # a success merged meanwhile closes it again
    assert not lanes["shop"].health.blocked(T0)
