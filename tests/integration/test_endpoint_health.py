"""Endpoint health: a circuit breaker per lane, auto-disable after a failure window, and the
operational events other subscriptions receive about both."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime, timedelta

import httpx
import orjson
import pytest

from deltahook.delivery import attempts, log, shared_health
from deltahook.delivery import subscriptions as subs
from deltahook.delivery.dispatcher import Dispatcher, DispatcherOptions
from deltahook.delivery.health import Change
from deltahook.delivery.receiver import Receiver
from deltahook.delivery.sender import Sender
from tests.delivery_support import T0, World

OPERATIONAL = [
    "EndpointCircuitOpenedEvent",
    "EndpointCircuitClosedEvent",
    "SubscriptionDisabledEvent",
]


@pytest.fixture
def ops() -> Iterator[Receiver]:
    """A second receiver: the operator's, subscribed to the operational events."""
    with Receiver() as server:
        yield server


def test_twenty_failures_open_the_circuit_and_a_probe_closes_it(
    world: World, receiver: Receiver, ops: Receiver
) -> None:
    """After 20 failures in a row the lane stops; after the cooldown one probe goes, succeeds,
    closes the circuit, and every waiting delivery goes out with its own message id."""
    world.subscribe(
        "shop", receiver.url, max_concurrency=1, circuit_after=20, circuit_cooldown="1m"
    )
    world.subscribe("ops", ops.url, event_types=OPERATIONAL)
    notes = world.notify(40, type="SkuChangedNotification")
    receiver.fail(20, status=503)

    world.run()
    assert len(receiver.requests) == 20
    shop = world.stored("shop")
    assert (shop.health.failures, shop.health.last_status_code) == (20, 503)
    assert shop.health.circuit_until == T0 + timedelta(minutes=1)
    waiting = [d for d in world.deliveries() if d.subscription == "shop" and d.attempts == 0]
    assert len(waiting) == 20  # claimed but never sent: given back, no attempt counted

    world.advance(30)  # the failed ones are due again, the circuit is still open
    world.run()
    assert len(receiver.requests) == 20

    world.advance(30)
    world.run()
    sent = receiver.requests[20:]
    assert len(sent) == 40  # the probe, then the rest
    assert sorted(r.headers["norce-event-message-id"] for r in sent) == sorted(n.id for n in notes)
    assert {d.status for d in world.deliveries() if d.subscription == "shop"} == {"delivered"}
    shop_ids = {d.id for d in world.deliveries() if d.subscription == "shop"}
    assert len([a for a in world.attempts() if a.delivery_id in shop_ids]) == 60
    shop = world.stored("shop")
    assert (shop.health.failures, shop.health.circuit_until) == (0, None)
    assert shop.health.last_success_at == world.now
    world.run()
    told = [orjson.loads(r.body) for r in ops.requests]
    assert [t["SubscriptionName"] for t in told] == ["shop", "shop"]
    assert [r.headers["norce-event-type"] for r in ops.requests] == OPERATIONAL[:2]
    assert told[0]["ConsecutiveFailures"] == 20


def test_a_subscription_failing_for_the_whole_window_is_switched_off_and_ops_is_told(
    world: World, receiver: Receiver, ops: Receiver
) -> None:
    """Nothing but failures for a day (the configured window) disables the subscription, the
    store says why, and another subscription receives a SubscriptionDisabledEvent."""
    world.subscribe(
        "shop",
        receiver.url,
        circuit_after=3,
        circuit_cooldown="1m",
        disable_after="1d",
        retry_schedule=", ".join(["1h"] * 40),
    )
    world.subscribe("ops", ops.url, event_types=["SubscriptionDisabledEvent"])
    world.notify(3)
    receiver.fail(10_000, status=500)
    world.run()
    for _ in range(24):
        world.advance(3600)
        world.run()
    shop = world.stored("shop")
    assert not shop.enabled
    assert shop.disabled_reason is not None
    assert "failing since 2026-11-24 10:00:00" in shop.disabled_reason
    assert "last status 500" in shop.disabled_reason
    world.run()
    [told] = ops.requests
    assert told.headers["norce-event-type"] == "SubscriptionDisabledEvent"
    body = orjson.loads(told.body)
    assert body["SubscriptionName"] == "shop"
    assert body["Reason"] == shop.disabled_reason
    before = len(receiver.requests)
    world.advance(86_400)
    world.run()
    assert len(receiver.requests) == before


def test_enabling_again_clears_the_health_record(world: World, receiver: Receiver) -> None:
    """Switching an auto-disabled subscription on again starts its health afresh."""
    world.subscribe(
        "shop", receiver.url, circuit_after=1, circuit_cooldown="1s", disable_after="1s"
    )
    world.notify()
    receiver.fail(5)
    world.run()
    world.advance(10)
    world.run()
    assert world.stored("shop").disabled_reason is not None
    with world.db.begin() as conn:
        subs.set_enabled(conn, "shop", enabled=True, now=world.now)
    shop = world.stored("shop")
    assert (shop.enabled, shop.disabled_reason, shop.health.failures) == (True, None, 0)
    assert shop.health.circuit_until is None


def test_a_410_gone_switches_the_subscription_off_and_ends_its_queue_with_the_reason(
    world: World, receiver: Receiver, ops: Receiver
) -> None:
    """One 410 Gone: that delivery is dead, not retried; the subscription is off with the reason
    (the store, `subscriptions list`, the API and the console show it); its other queued
    deliveries end as dead with a reason, kept in the log; ops is told. Switched on again, a
    recover sends them all."""
    world.subscribe("shop", receiver.url, max_concurrency=1)
    world.subscribe("ops", ops.url, event_types=["SubscriptionDisabledEvent"])
    notes = world.notify(5)
    receiver.fail(1, status=410)
    world.run()
    assert len(receiver.requests) == 1
    shop = world.stored("shop")
    assert not shop.enabled
    assert shop.disabled_reason == (
        "the endpoint answered 410 Gone at 2026-11-24 10:00:00 UTC (it says it was removed): "
        "switched off at once, its queued deliveries ended as dead"
    )
    ended = [d for d in world.deliveries() if d.subscription == "shop"]
    assert {d.status for d in ended} == {"dead"}
    assert {d.next_attempt_at for d in ended} == {None}
    (gone,) = [d for d in ended if d.attempts == 1]
    assert (gone.last_status_code, gone.last_error) == (410, attempts.GONE_ERROR)
    assert {d.last_error for d in ended if d is not gone} == {shared_health.ENDED_GONE}
    world.run()
    [told] = ops.requests
    assert orjson.loads(told.body)["Reason"] == shop.disabled_reason

    world.advance(86_400)  # nothing is retried, nothing new is queued for it
    world.notify(1)
    world.run()
    assert len(receiver.requests) == 1
    assert len([d for d in world.deliveries() if d.subscription == "shop"]) == 5

    with world.db.begin() as conn:
        subs.set_enabled(conn, "shop", enabled=True, now=world.now)
        assert log.recover(conn, "shop", since=T0, now=world.now) == 5
    world.run()
    sent = {r.headers["norce-event-message-id"] for r in receiver.requests[1:]}
    assert sent == {n.id for n in notes}
    assert world.stored("shop").disabled_reason is None


def test_rate_limit_of_five_per_second_holds_over_fifty_deliveries(
    world: World, receiver: Receiver
) -> None:
    """With 5 requests a second (burst 5), no second of the injected clock sees more than the
    bucket allows, and all 50 go out in about ten seconds."""
    world.subscribe("shop", receiver.url, rate_limit=5, rate_burst=5)
    world.notify(50)
    sent_at = []
    for _ in range(200):
        before = len(receiver.requests)
        world.run()
        sent_at += [world.now] * (len(receiver.requests) - before)
        if len(sent_at) == 50:
            break
        world.advance(0.1)
    assert len(sent_at) == 50
    for start in sent_at:
        within = [t for t in sent_at if start <= t < start + timedelta(seconds=1)]
        assert len(within) <= 5 + 5
    assert sent_at[-1] - sent_at[0] >= timedelta(seconds=9)
    assert len(world.attempts()) == 50


def test_two_dispatchers_failures_add_up_in_the_store_and_open_the_circuit_once(
    world: World, receiver: Receiver
) -> None:
    """Each dispatcher's batch merges its outcomes into the stored health (it no longer writes
    its own count over the other's): two failures from one and two from another are four in a
    row, which opens the circuit once, in the batch that made the fourth."""
    world.subscribe("shop", receiver.url, circuit_after=4, circuit_cooldown="1m")
    failed = [shared_health.Outcome(succeeded=False, status_code=503, at=T0)] * 2
    found = []
    for _dispatcher in ("a", "b"):
        with world.db.begin() as conn:
            merged = shared_health.merge(conn, {"shop": failed}, client_id=1, now=T0)
        found.append([verdict.change for _name, verdict in merged.moments])
    assert found == [[], [Change.OPENED]]
    shop = world.stored("shop")
    assert (shop.health.failures, shop.health.last_status_code) == (4, 503)
    assert shop.health.circuit_until == T0 + timedelta(minutes=1)


def test_a_switch_off_is_told_once_however_many_dispatchers_see_it(
    world: World, receiver: Receiver
) -> None:
    """Failing for the whole window switches the subscription off once; a straggler's failure
    merged afterwards (another dispatcher's) tells nobody again."""
    world.subscribe("shop", receiver.url, disable_after="1h", circuit_after=1000)
    late = T0 + timedelta(hours=1)
    failures = [
        [shared_health.Outcome(succeeded=False, status_code=500, at=T0)],
        [shared_health.Outcome(succeeded=False, status_code=500, at=late)],
        [shared_health.Outcome(succeeded=False, status_code=500, at=late)],
    ]
    found = []
    for outcomes in failures:
        with world.db.begin() as conn:
            merged = shared_health.merge(conn, {"shop": outcomes}, client_id=1, now=late)
        found.append([verdict.change for _name, verdict in merged.moments])
    assert found == [[], [Change.DISABLED], []]
    shop = world.stored("shop")
    assert not shop.enabled
    assert shop.health.failures == 3


def test_two_dispatchers_at_a_cooldowns_end_send_one_probe(world: World) -> None:
    """Both dispatchers find the cooldown over; one takes the probe in the store and sends
    it, the other finds the circuit still open and sends nothing (the probe is held until
    the other's run has ended, so both had their chance to claim)."""
    world.subscribe(
        "shop",
        "https://shop.example/hook",
        max_concurrency=1,
        circuit_after=2,
        circuit_cooldown="1m",
    )
    world.notify(5)
    sent: list[str] = []
    other_done = asyncio.Event()

    async def failing(request: httpx.Request) -> httpx.Response:
        sent.append(request.headers["Norce-Event-Message-Id"])
        if len(sent) > 2:  # a probe: wait for the other dispatcher, or a second probe
            if len(sent) == 4:
                other_done.set()
            await other_done.wait()
        return httpx.Response(503)

    def dispatcher(worker: str) -> Dispatcher:
        return Dispatcher(
            world.db,
            options=DispatcherOptions(worker_id=worker, listen=False, allow_private=True),
            sender=Sender(transport=httpx.MockTransport(failing)),
            clock=world.clock,
            jitter=lambda: 0.0,
        )

    asyncio.run(dispatcher("opener").run(once=True))
    assert len(sent) == 2
    assert world.stored("shop").health.circuit_until == T0 + timedelta(minutes=1)
    world.advance(60)

    async def one_ends(worker: str) -> None:
        try:
            await dispatcher(worker).run(once=True)
        finally:
            other_done.set()

    async def both() -> None:
        await asyncio.gather(one_ends("a"), one_ends("b"))

    asyncio.run(both())
    assert len(sent) == 3
    health = world.stored("shop").health
    assert health.failures == 3
    assert health.circuit_until == world.now + timedelta(minutes=1)


def test_a_probe_is_taken_once_per_cooldown_and_again_after_its_hold(world: World) -> None:
    """claim_probe: the first taker wins, a second in the same cooldown is refused; after the
    hold (the prober died, say) the next one may probe; nothing due, nothing taken."""
    world.subscribe("shop", "https://shop.example/hook", circuit_after=1, circuit_cooldown="1m")
    failed = [shared_health.Outcome(succeeded=False, status_code=503, at=T0)]
    with world.db.begin() as conn:
        shared_health.merge(conn, {"shop": failed}, client_id=1, now=T0)
    hold = timedelta(minutes=1)

    def take(at: datetime) -> bool:
        with world.db.begin() as conn:
            return shared_health.claim_probe(conn, "shop", hold=hold, now=at)

    end = T0 + hold
    assert not take(end)  # nothing queued to probe with
    world.notify(1)
    assert not take(end - timedelta(seconds=1))  # the cooldown still runs
    assert [take(end), take(end)] == [True, False]
    assert take(end + hold)
