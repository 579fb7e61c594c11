"""Operating deliveries: recover, resend, purge, status, the log, and switching subscriptions."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

from deltahook.delivery import claims, log, queue
from deltahook.delivery import subscriptions as subs
from deltahook.delivery.receiver import Receiver
from deltahook.delivery.settings import SubscriptionSettings
from deltahook.errors import DeliveryError, UnknownSubscriptionError
from deltahook.store.db import open_engine
from tests.delivery_support import T0, World
from tests.scale_support import wait_until

HOUR = 3600


@pytest.fixture
def shop() -> Iterator[Receiver]:
    with Receiver() as server:
        yield server


@pytest.fixture
def erp() -> Iterator[Receiver]:
    with Receiver() as server:
        yield server


def make_history(world: World, shop: Receiver, erp: Receiver) -> dict[str, str]:
    """Four notifications an hour apart to two subscriptions (one retry each); erp always fails.

    shop: n1 dead (T0), n2 delivered (T0+1h), n3 dead (T0+2h), n4 retrying (T0+3h).
    erp: n1, n2 and n3 dead, n4 retrying. The clock ends at T0+4h.
    """
    world.subscribe("shop", shop.url, retry_schedule="1s")
    world.subscribe("erp", erp.url, retry_schedule="1s")
    erp.fail(1000)
    ids = {}
    for number, plan in enumerate(["dead", "delivered", "dead", "retrying"], start=1):
        world.now = T0 + timedelta(hours=number - 1)
        [note] = world.notify()
        ids[f"n{number}"] = note.id
        if plan != "delivered":
            shop.fail(2 if plan == "dead" else 1)
        world.run()
        if plan == "dead":
            world.advance(1)
            world.run()
    world.now = T0 + timedelta(hours=4)
    return ids


def shop_status(world: World) -> dict[str, str]:
    return {d.notification_id: d.status for d in world.deliveries() if d.subscription == "shop"}


def test_history_is_as_planned(world: World, shop: Receiver, erp: Receiver) -> None:
    """The scenario the recover tests rely on."""
    ids = make_history(world, shop, erp)
    assert shop_status(world) == {
        ids["n1"]: "dead",
        ids["n2"]: "delivered",
        ids["n3"]: "dead",
        ids["n4"]: "retrying",
    }
    assert {d.status for d in world.deliveries() if d.subscription == "erp"} == {"dead", "retrying"}


def test_recover_since_queues_exactly_the_failed_and_dead_of_that_subscription(
    world: World, shop: Receiver, erp: Receiver
) -> None:
    """Since T0+30m: shop's dead n3 and retrying n4; not n1 (earlier), n2 (delivered), nor erp."""
    ids = make_history(world, shop, erp)
    erp_before = {d.id: d.status for d in world.deliveries() if d.subscription == "erp"}
    with world.db.begin() as conn:
        count = log.recover(conn, "shop", since=T0 + timedelta(minutes=30), now=world.now)
    assert count == 2
    assert shop_status(world) == {
        ids["n1"]: "dead",
        ids["n2"]: "delivered",
        ids["n3"]: "pending",
        ids["n4"]: "pending",
    }
    assert {d.id: d.status for d in world.deliveries() if d.subscription == "erp"} == erp_before
    requests_before = len(shop.requests)
    assert world.run().delivered == 2
    resent = [r.message_id for r in shop.requests[requests_before:]]
    assert sorted(resent) == sorted([ids["n3"], ids["n4"]])


def test_recover_until_closes_the_window(world: World, shop: Receiver, erp: Receiver) -> None:
    """Since T0+30m until T0+2h30m: only n3."""
    ids = make_history(world, shop, erp)
    with world.db.begin() as conn:
        count = log.recover(
            conn,
            "shop",
            since=T0 + timedelta(minutes=30),
            until=T0 + timedelta(hours=2, minutes=30),
            now=world.now,
        )
    assert count == 1
    assert shop_status(world)[ids["n3"]] == "pending"
    assert shop_status(world)[ids["n4"]] == "retrying"


def test_a_recovered_dead_delivery_gets_a_fresh_schedule(
    world: World, shop: Receiver, erp: Receiver
) -> None:
    """After recover, a failure waits the first step again instead of ending the delivery."""
    ids = make_history(world, shop, erp)
    with world.db.begin() as conn:
        count = log.recover(
            conn,
            "shop",
            since=T0 + timedelta(hours=2),
            until=T0 + timedelta(hours=3),
            now=world.now,
        )
    assert count == 1
    shop.fail(2)  # n3, and n4 whose retry is due as well
    world.run()
    [delivery] = [
        d for d in world.deliveries() if (d.notification_id, d.subscription) == (ids["n3"], "shop")
    ]
    assert (delivery.status, delivery.attempts) == ("retrying", 3)
    assert delivery.next_attempt_at == world.now + timedelta(seconds=1)


def test_recover_refuses_unknown_and_switched_off_subscriptions(
    world: World, shop: Receiver
) -> None:
    """An unknown name, or one that is off, is an error a person can act on."""
    world.subscribe("shop", shop.url)
    with world.db.begin() as conn, pytest.raises(UnknownSubscriptionError):
        log.recover(conn, "nope", since=T0, now=world.now)
    with world.db.begin() as conn:
        subs.set_enabled(conn, "shop", enabled=False, now=world.now)
    with world.db.begin() as conn, pytest.raises(DeliveryError, match="is off"):
        log.recover(conn, "shop", since=T0, now=world.now)


def test_resend_queues_a_delivered_one_again_with_the_same_message_id(
    world: World, shop: Receiver
) -> None:
    """Resending by delivery id, or by notification id for all its deliveries."""
    world.subscribe("shop", shop.url)
    [note] = world.notify()
    world.run()
    delivery = world.delivery()
    with world.db.begin() as conn:
        assert log.resend(conn, [delivery.id], now=world.now) == {delivery.id: "queued"}
    world.run()
    with world.db.begin() as conn:
        assert log.resend(conn, [note.id], now=world.now) == {delivery.id: "queued"}
    world.run()
    assert [r.message_id for r in shop.requests] == [note.id] * 3
    assert world.delivery().attempts == 3


def test_resend_reports_unknown_ids_and_leaves_in_flight_ones_alone(
    world: World, shop: Receiver
) -> None:
    """An id that matches nothing is reported; a leased delivery is not disturbed."""
    world.subscribe("shop", shop.url)
    world.notify()
    with world.db.begin() as conn:
        assert log.resend(conn, ["no-such-id"], now=world.now) == {"no-such-id": "unknown"}
    shop.fail(1)
    world.run()
    row = world.delivery()
    with world.db.begin() as conn:  # lease it as a dispatcher would
        want = claims.Want(count=1, lease=timedelta(seconds=45), retries=16)
        world.advance(5)
        assert len(queue.claim(conn, {"shop": want}, worker="w", now=world.now)) == 1
        assert log.resend(conn, [row.id], now=world.now) == {row.id: "in flight"}


def test_switched_off_subscriptions_get_nothing_queued_and_pause(
    world: World, shop: Receiver
) -> None:
    """Off: new notifications queue nothing, queued ones wait; back on, they go out."""
    world.subscribe("shop", shop.url)
    world.notify()
    with world.db.begin() as conn:
        subs.set_enabled(conn, "shop", enabled=False, now=world.now)
    world.notify()
    assert len(world.deliveries()) == 1
    assert world.run().attempts == 0
    with world.db.begin() as conn:
        subs.set_enabled(conn, "shop", enabled=True, now=world.now)
    assert world.run().delivered == 1


def test_a_subscription_that_cannot_resolve_pauses_alone_and_says_why(
    world: World, shop: Receiver, erp: Receiver
) -> None:
    """A missing ${VAR} pauses that lane (its reason stored for `status`); the others deliver;
    once the variable is there, the reason is cleared and its deliveries go out."""
    world.subscribe("shop", shop.url, headers={"X-Token": "${SHOP_TOKEN}"})
    world.subscribe("erp", erp.url)
    world.notify()
    world.env = {}
    assert world.run().delivered == 1
    assert (len(shop.requests), len(erp.requests)) == (0, 1)
    with world.db.connect() as conn:
        paused = {row["subscription"]: row["paused"] for row in log.status(conn, now=world.now)}
    assert paused["erp"] is None
    assert "SHOP_TOKEN" in paused["shop"]
    world.env = {"SHOP_TOKEN": "t-1"}
    assert world.run().delivered == 1
    assert world.stored("shop").paused is None


def test_a_cli_switch_survives_syncs_until_the_config_file_changes(
    world: World, shop: Receiver
) -> None:
    """disable holds across syncs; the file's own 'enabled' changing is the newer decision."""
    world.subscribe("shop", shop.url)
    with world.db.begin() as conn:
        subs.set_enabled(conn, "shop", enabled=False, now=world.now)
    world.subscribe("shop", shop.url, timeout=3)  # a sync with an unrelated change
    with world.db.begin() as conn:
        assert not subs.get(conn, "shop").enabled
    world.subscribe("shop", shop.url, enabled=False)
    world.subscribe("shop", shop.url, enabled=True)
    with world.db.begin() as conn:
        assert subs.get(conn, "shop").enabled


def test_in_sync_is_false_exactly_when_sync_would_write(world: World) -> None:
    """Opening the store asks ``in_sync`` in a read-only transaction and syncs only when it says
    no: it must say no whenever ``sync`` has something to write (a subscription added, a setting
    or the file's 'enabled' changed, one dropped) and yes otherwise (nothing changed, a CLI switch
    the file does not override, one dropped already)."""

    def declare(name: str, **settings: Any) -> SubscriptionSettings:
        """``name`` as the config file declares it, with ``settings``."""
        url = f"https://{name}.example/"
        return SubscriptionSettings(name=name, url=url, event_types=["*"], **settings)

    steps: list[list[SubscriptionSettings]] = [
        [declare("shop")],  # added
        [declare("shop")],  # nothing changed
        [declare("shop", timeout=3)],  # a setting changed
        [declare("shop", timeout=3), declare("erp")],  # another added
        [declare("shop", timeout=3, enabled=False), declare("erp")],  # the file switches it off
        [declare("shop", timeout=3, enabled=False), declare("erp")],
        [declare("erp")],  # dropped
        [declare("erp")],  # dropped already
        [],
    ]
    for number, declared in enumerate(steps):
        with world.db.begin() as conn:
            said = subs.in_sync(conn, declared)
            report = subs.sync(conn, declared, now=world.now)
            assert said == (not any(report.values())), (number, report)
            assert subs.in_sync(conn, declared), number
        if number == 1:  # a CLI switch holds until the file's own 'enabled' changes
            with world.db.begin() as conn:
                subs.set_enabled(conn, "shop", enabled=False, now=world.now)
                assert subs.in_sync(conn, declared)


def test_a_subscription_dropped_from_the_config_is_switched_off(
    world: World, shop: Receiver
) -> None:
    """Removed from the file: kept for the log, off, marked removed; enable is refused."""
    world.subscribe("shop", shop.url)
    world.declared = []
    with world.db.begin() as conn:
        report = subs.sync(conn, [], now=world.now)
    assert report["removed"] == ["shop"]
    with world.db.begin() as conn:
        sub = subs.get(conn, "shop")
        assert (sub.enabled, sub.source) == (False, "removed")
        with pytest.raises(DeliveryError, match="no longer in the config file"):
            subs.set_enabled(conn, "shop", enabled=True, now=world.now)
    world.subscribe("shop", shop.url)
    with world.db.begin() as conn:
        assert subs.get(conn, "shop").enabled


def test_purge_removes_old_finished_deliveries_with_their_attempts_and_payloads(
    world: World, shop: Receiver, erp: Receiver
) -> None:
    """Older than the cutoff and delivered or dead: gone. Retrying or newer: kept."""
    ids = make_history(world, shop, erp)
    with world.db.begin() as conn:
        removed = queue.purge(conn, before=T0 + timedelta(hours=2, minutes=30))
    left = {(d.subscription, d.notification_id) for d in world.deliveries()}
    assert left == {("shop", ids["n4"]), ("erp", ids["n4"])}  # retrying: never purged
    assert removed["deliveries"] == 6  # n1, n2 and n3 of both, delivered or dead by T0+2h1s
    assert removed["notifications"] == 3
    assert all(a.delivery_id in {d.id for d in world.deliveries()} for a in world.attempts())


def test_status_counts_per_subscription(world: World, shop: Receiver, erp: Receiver) -> None:
    """Pending, retrying, dead, delivered in the last hour, oldest due age, and the endpoint's
    failures in a row and last answer."""
    make_history(world, shop, erp)
    world.now = T0 + timedelta(hours=3, minutes=30)
    with world.db.begin() as conn:
        rows = {row["subscription"]: row for row in log.status(conn, now=world.now)}
    assert rows["shop"] | {"oldest_due_age_s": None} == {
        "subscription": "shop",
        "enabled": True,
        "source": "config",
        "paused": None,
        "circuit_open_until": None,  # 3 failures in a row: the circuit opens at 20
        "failures": 3,
        "last_status_code": 500,
        "disabled_reason": None,
        "pending": 0,
        "retrying": 1,
        "dead": 2,
        "in_flight": 0,
        "delivered_last_hour": 0,
        "oldest_due_age_s": None,
    }
    # n4 failed at T0+3h and was due again 1 s later: 30 min minus 1 s ago.
    assert rows["shop"]["oldest_due_age_s"] == pytest.approx(HOUR / 2 - 1)
    assert (rows["erp"]["dead"], rows["erp"]["retrying"]) == (3, 1)


def test_the_log_filters_by_status_type_subscription_and_time(
    world: World, shop: Receiver, erp: Receiver
) -> None:
    """'failed' is retrying or dead; time filters apply to when a delivery was queued."""
    ids = make_history(world, shop, erp)

    def found(**where: object) -> list[tuple[str, str]]:
        with world.db.begin() as conn:
            entries = log.entries(conn, log.LogFilter(**where), now=world.now)  # type: ignore[arg-type]
        return sorted((e["subscription"], e["message_id"]) for e in entries)

    assert found(subscription="shop", status="failed") == sorted(
        ("shop", ids[n]) for n in ("n1", "n3", "n4")
    )
    assert found(subscription="shop", status="delivered") == [("shop", ids["n2"])]
    assert found(since=T0 + timedelta(hours=3)) == sorted([("erp", ids["n4"]), ("shop", ids["n4"])])
    assert found(until=T0 + timedelta(minutes=1), subscription="erp") == [("erp", ids["n1"])]
    assert found(event_type="Nope") == []


def test_the_log_shows_payloads_and_attempts_on_request(world: World, shop: Receiver) -> None:
    """--payload adds the JSON payload, --attempts every attempt with its answer."""
    world.subscribe("shop", shop.url)
    [note] = world.notify()
    shop.fail(1, status=502)
    world.run()
    with world.db.begin() as conn:
        [entry] = log.entries(
            conn, log.LogFilter(), now=world.now, payload=True, with_attempts=True
        )
    assert entry["payload"] == dict(note.payload)
    assert [(a["number"], a["status_code"]) for a in entry["attempt_log"]] == [(1, 502)]
    assert entry["next_attempt_at"] == T0 + timedelta(seconds=5)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2h", T0 - timedelta(hours=2)),  # a duration means that long ago
        ("1d12h", T0 - timedelta(days=1, hours=12)),
        ("2026-11-24T08:00:00Z", T0 - timedelta(hours=2)),  # ISO 8601 with a zone
        ("2026-11-24T08:00:00", T0 - timedelta(hours=2)),  # no zone: UTC
        ("2026-11-24T09:00:00+01:00", T0 - timedelta(hours=2)),
    ],
)
def test_times_for_filters(text: str, expected: object) -> None:
    """--since/--until accept ISO 8601 or a duration ago."""
    assert log.parse_when(text, now=T0) == expected


def test_a_bad_time_is_explained() -> None:
    """A time that is neither ISO 8601 nor a duration is refused with the spellings that work."""
    with pytest.raises(DeliveryError, match="ISO 8601"):
        log.parse_when("yesterday", now=T0)


def test_the_dispatcher_purges_the_log_now_and_then(world: World, shop: Receiver) -> None:
    """On start (then hourly) it deletes what finished more than 7 days ago."""
    world.subscribe("shop", shop.url)
    world.notify()
    world.run()
    world.advance(7 * 24 * HOUR - 1)
    world.run()
    assert len(world.deliveries()) == 1  # 7 days less a second: kept
    world.advance(2)
    world.run()
    assert world.deliveries() == []
    assert world.attempts() == []


def test_resend_to_a_switched_off_subscription_is_refused(world: World, shop: Receiver) -> None:
    """Resending a delivery of a switched-off subscription queues nothing and says 'subscription
    off'."""
    world.subscribe("shop", shop.url)
    world.notify()
    world.run()
    row = world.delivery()
    with world.db.begin() as conn:
        subs.set_enabled(conn, "shop", enabled=False, now=world.now)
        assert log.resend(conn, [row.id], now=world.now) == {row.id: "subscription off"}


@pytest.mark.postgres
def test_two_processes_starting_together_both_sync_a_new_subscription(pg_url: str) -> None:
    """PostgreSQL: a process opening the store while another is inserting the same new
    subscription (both found it missing) waits for that insert, fails its own on the primary
    key, and syncs again: it opens the store, which holds the subscription once."""
    import threading

    from deltahook.bootstrap import open_store
    from deltahook.config import Settings

    declared = [SubscriptionSettings(name="shop", url="https://shop.example/", event_types=["*"])]
    open_store(Settings(database_url=pg_url)).dispose()  # the schema, no subscription yet
    first = open_engine(pg_url)
    outcome: list[BaseException | None] = []

    def start() -> None:
        """The second process: opens the store with the subscription declared."""
        try:
            open_store(Settings(database_url=pg_url, subscriptions=declared)).dispose()
            outcome.append(None)
        except BaseException as exc:  # handed to the test's thread
            outcome.append(exc)

    try:
        with first.begin() as conn:  # the first process, mid-sync: inserted, not committed
            subs.sync(conn, declared, now=T0)
            second = threading.Thread(target=start)
            second.start()
            wait_until(
                lambda: _waiting_insert(first) or bool(outcome),
                timeout=30,
                what="the second insert waiting for the first",
            )
        second.join(timeout=30)
        assert outcome == [None]
        with first.begin() as conn:
            assert [s.name for s in subs.load(conn)] == ["shop"]
    finally:
        first.dispose()


def _waiting_insert(db: Engine) -> bool:
    """Whether a session of this database waits on a lock to insert a subscription."""
    query = (
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO subscriptions%%'"
    )
    with db.connect() as conn:
        return bool(conn.exec_driver_sql(query).scalar())
