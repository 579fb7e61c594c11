"""Retries against a real local receiver: same message id, logged attempts, Norce's schedule."""

from __future__ import annotations

import asyncio
import base64
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from deltahook.clock import utc_now
from deltahook.delivery import log
from deltahook.delivery.receiver import Receiver
from deltahook.delivery.retry import DEFAULT_SCHEDULE
from deltahook.delivery.testsend import send_test
from tests.delivery_support import NEW_SECRET, SECRET, T0, World


def test_500_twice_then_200_is_three_requests_with_one_message_id(
    world: World, receiver: Receiver
) -> None:
    """A receiver failing twice gets three requests, 5 s and 10 s apart, all with one id."""
    world.subscribe("shop", receiver.url)
    [note] = world.notify()
    receiver.fail(2, status=500)

    assert world.run().retrying == 1
    world.advance(5)
    assert world.run().retrying == 1
    world.advance(10)
    assert world.run().delivered == 1

    assert [r.headers["norce-event-message-id"] for r in receiver.requests] == [note.id] * 3
    delivery = world.delivery()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 3, 200)
    logged = world.attempts(delivery.id)
    assert [a.number for a in logged] == [1, 2, 3]
    assert [a.status_code for a in logged] == [500, 500, 200]
    assert [a.started_at for a in logged] == [
        T0,
        T0 + timedelta(seconds=5),
        T0 + timedelta(seconds=15),
    ]
    assert [a.response_excerpt for a in logged] == ["failing", "failing", "ok"]
    assert all(a.duration_ms > 0 for a in logged)


def test_nothing_is_attempted_before_its_retry_time(world: World, receiver: Receiver) -> None:
    """One second short of the 5 s step, the failed delivery is left alone."""
    world.subscribe("shop", receiver.url)
    world.notify()
    receiver.fail(1)
    world.run()
    world.advance(4.999)
    assert world.run().attempts == 0
    assert len(receiver.requests) == 1


def test_retry_times_follow_the_whole_schedule_then_the_delivery_is_dead(
    world: World, receiver: Receiver
) -> None:
    """17 failures, each retry exactly its schedule step after the last; then dead, no more."""
    world.subscribe("shop", receiver.url)
    world.notify()
    receiver.fail(100, status=503)
    world.run()
    for step in DEFAULT_SCHEDULE:
        due = world.delivery().next_attempt_at
        assert due == world.now + step
        world.now = due
        world.run()
    delivery = world.delivery()
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == ("dead", 17, None)
    world.advance(86_400)
    assert world.run().attempts == 0
    assert len(receiver.requests) == 17


def test_a_custom_schedule_is_followed(world: World, receiver: Receiver) -> None:
    """A subscription's own schedule replaces Norce's: two retries, 1 s then 1 min."""
    world.subscribe("shop", receiver.url, retry_schedule="1s, 1m")
    world.notify()
    receiver.fail(10)
    world.run()
    world.advance(1)
    world.run()
    assert world.delivery().next_attempt_at == world.now + timedelta(minutes=1)
    world.advance(60)
    world.run()
    assert world.delivery().status == "dead"


@pytest.mark.parametrize(
    ("status", "retry_after", "expected_wait"),
    [
        (429, "120", 120),  # asks for longer than the 5 s step: honoured
        (503, "1", 5),  # asks for less: the schedule's minimum stands
        (500, "120", 5),  # only 429 and 503 are throttling answers
    ],
)
def test_retry_after_is_honoured_when_it_asks_for_longer(
    world: World, receiver: Receiver, status: int, retry_after: str, expected_wait: int
) -> None:
    """Retry-After on 429/503 pushes the next attempt back; it never brings one forward."""
    world.subscribe("shop", receiver.url)
    world.notify()
    receiver.fail(1, status=status, headers={"Retry-After": retry_after})
    world.run()
    assert world.delivery().next_attempt_at == T0 + timedelta(seconds=expected_wait)


def test_a_refused_connection_is_logged_and_retried(world: World) -> None:
    """Nobody listening: the attempt logs the connection error and is retried on schedule."""
    with Receiver() as gone:
        url = gone.url
    world.subscribe("shop", url)
    world.notify()
    world.run()
    delivery = world.delivery()
    assert delivery.status == "retrying"
    [attempt] = world.attempts(delivery.id)
    assert attempt.status_code is None
    assert attempt.error.startswith("connection failed")


def test_the_request_is_a_json_post_with_the_payload(world: World, receiver: Receiver) -> None:
    """POST, JSON content type with charset, the stored payload as body, Norce headers."""
    world.subscribe("shop", receiver.url, headers={"X-Api-Key": "k-123"})
    [note] = world.notify(type="SkuPriceChangedNotification")
    world.run()
    [request] = receiver.requests
    assert request.method == "POST"
    assert request.headers["content-type"] == "application/json; charset=utf-8"
    assert orjson.loads(request.body) == dict(note.payload)
    assert request.headers["norce-event-type"] == "SkuPriceChangedNotification"
    assert datetime.fromisoformat(request.headers["norce-event-timestamp"]) == T0
    assert request.headers["x-api-key"] == "k-123"


@pytest.mark.parametrize("status", [301, 302, 307])
def test_a_redirect_gets_the_same_post(world: World, receiver: Receiver, status: int) -> None:
    """A redirect to another path gets the same POST, body and headers; then it is delivered."""
    world.subscribe("shop", receiver.url + "old", headers={"X-Api-Key": "k-1"}, secrets=[SECRET])
    [note] = world.notify()
    receiver.fail(1, status=status, headers={"Location": receiver.url + "new"})
    world.run()
    first, second = receiver.requests
    assert [r.path for r in receiver.requests] == ["/old", "/new"]
    assert second.method == "POST"
    assert orjson.loads(second.body) == dict(note.payload)
    for name in ("x-api-key", "webhook-signature", "norce-event-message-id", "content-type"):
        assert second.headers[name] == first.headers[name]
    assert world.delivery().status == "delivered"


def test_secrets_and_header_values_never_reach_the_log(world: World, receiver: Receiver) -> None:
    """A receiver echoing our token back: the logged excerpt has it blanked out."""
    world.env = {"SHOP_TOKEN": "tok-very-secret"}
    world.subscribe("shop", receiver.url, headers={"Authorization": "Bearer ${SHOP_TOKEN}"})
    world.notify()
    receiver.fail(1, status=401)
    receiver.echo_header = "authorization"
    world.run()
    [request] = receiver.requests
    assert request.headers["authorization"] == "Bearer tok-very-secret"
    [attempt] = world.attempts()
    assert "tok-very-secret" not in attempt.response_excerpt
    assert "[redacted]" in attempt.response_excerpt


ECHOED = {  # a token and a secret, each in a form a receiver may echo
    "scheme-less token": "tok-very-secret",
    "token in base64": base64.b64encode(b"tok-very-secret").decode(),
    "secret": SECRET,
    "prefix-less secret": SECRET.removeprefix("whsec_"),
    "decoded key": base64.b64decode(NEW_SECRET.removeprefix("whsec_")).decode(),
    "key in hex": base64.b64decode(SECRET.removeprefix("whsec_")).hex(),
}


def test_no_form_of_a_credential_is_stored_or_shown(
    world: World, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every echoed form is blanked in the attempt row, the log (API and CLI read it), and
    what a test send reports."""
    world.env = {"SHOP_TOKEN": "tok-very-secret"}
    monkeypatch.setenv("SHOP_TOKEN", "tok-very-secret")  # a test send reads the environment
    world.subscribe(
        "shop",
        receiver.url,
        headers={"Authorization": "Bearer ${SHOP_TOKEN}"},
        secrets=[SECRET, NEW_SECRET],
    )
    world.notify()
    echo = " | ".join(f"{name}={form}" for name, form in ECHOED.items()).encode()
    receiver.fail(2, status=401, body=echo)
    world.run()
    [attempt] = world.attempts()
    with world.db.connect() as conn:
        [entry] = log.entries(conn, log.LogFilter(), now=world.now, with_attempts=True)
    sub = world.stored("shop")
    report = asyncio.run(send_test(sub, constants={}, now=world.now, allow_private=True))
    shown = [attempt.response_excerpt, entry["attempt_log"][0]["response_excerpt"]]
    for text in [*shown, report["response_excerpt"]]:
        for name, form in ECHOED.items():
            assert form not in text, name
        assert text.count("[redacted]") == len(ECHOED)


@pytest.mark.parametrize("style", ["norce", "standard"])
def test_signatures_verify_with_standardwebhooks(
    database_url: str, receiver: Receiver, style: str
) -> None:
    """A receiver using the standardwebhooks package accepts what the dispatcher sends."""
    world = World(database_url, now=utc_now())  # the library checks the timestamp's freshness
    world.subscribe("shop", receiver.url, secrets=[SECRET], header_style=style)
    world.notify()
    world.run()
    [request] = receiver.requests
    payload = Webhook(SECRET).verify(request.body, request.headers)
    assert payload["ClientId"] == 1042
    world.close()


@pytest.mark.parametrize("receiver_secret", [SECRET, NEW_SECRET])
def test_during_secret_rotation_either_secret_verifies(
    database_url: str, receiver: Receiver, receiver_secret: str
) -> None:
    """With the old and the new secret configured, a receiver holding either one verifies."""
    world = World(database_url, now=utc_now())
    world.subscribe("shop", receiver.url, secrets=[SECRET, NEW_SECRET])
    world.notify()
    world.run()
    [request] = receiver.requests
    assert len(request.headers["webhook-signature"].split()) == 2
    Webhook(receiver_secret).verify(request.body, request.headers)
    other = "whsec_" + "b3RoZXIgc2VjcmV0IG9mIHR3ZW50eS1mb3VyIGJ5dGVz"
    with pytest.raises(WebhookVerificationError):
        Webhook(other).verify(request.body, request.headers)
    world.close()


def test_retries_are_signed_afresh_with_the_same_id(world: World, receiver: Receiver) -> None:
    """Each attempt has its own timestamp and signature; webhook-id stays the message id."""
    world.now = datetime.now(UTC)
    world.subscribe("shop", receiver.url, secrets=[SECRET])
    [note] = world.notify()
    receiver.fail(1)
    world.run()
    world.advance(5)
    world.run()
    first, second = receiver.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == note.id
    assert int(second.headers["webhook-timestamp"]) - int(first.headers["webhook-timestamp"]) == 5
    assert first.headers["webhook-signature"] != second.headers["webhook-signature"]
