"""Event time and the directscale style, against a real local receiver on each database."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path

import orjson
import pytest
from pydantic import ValidationError
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook

from deltahook.clock import utc_now
from deltahook.config import Settings
from deltahook.delivery.envelope import event_categories
from deltahook.delivery.receiver import Receiver
from deltahook.delivery.settings import SubscriptionSettings
from deltahook.delivery.signing import format_timestamp
from deltahook.delivery.testsend import send_test
from deltahook.engine import Engine
from deltahook.store.tables import notifications
from tests.delivery_support import SECRET, T0, World

DETECTED = "2026-11-24T10:00:00.000+00:00"
"""T0, the time the notification was stored (detected), as the receivers get it."""
SENT = T0 + timedelta(seconds=90)
DS_HEADERS = {"Authorization": "Bearer ${DS_TOKEN}"}
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def _deliver(world: World, receiver: Receiver, **settings: object) -> tuple[str, dict[str, str]]:
    """Notify at T0, deliver 90 s later; the notification's id and the request's headers."""
    world.subscribe("shop", receiver.url, **settings)  # type: ignore[arg-type]
    [note] = world.notify()
    world.now = SENT
    world.run(client_id=1042, categories={"SkuChangedNotification": "Product"})
    [request] = receiver.requests
    return note.id, dict(request.headers)


@pytest.mark.parametrize("style", ["norce", "standard"])
def test_detection_time_header_is_the_stored_time_not_the_attempt(
    world: World, receiver: Receiver, style: str
) -> None:
    """Norce and standard requests carry the detection time; their own timestamps stay the
    attempt's."""
    _note, headers = _deliver(world, receiver, header_style=style)
    assert headers["deltahook-event-detected-at"] == DETECTED
    if style == "norce":
        assert headers["norce-event-timestamp"] == format_timestamp(SENT)
    else:
        assert headers["webhook-timestamp"] == str(int(SENT.timestamp()))
    assert orjson.loads(receiver.requests[0].body) == {"ClientId": 1042, "PartNo": "P-1"}


def test_detection_time_is_the_notification_rows_created_time(world: World) -> None:
    """The stored notification's created time is when the change was detected (its ingest)."""
    world.notify()
    with world.db.connect() as conn:
        [created] = conn.execute(select(notifications.c.created_at)).scalars()
    assert created == T0


def test_directscale_headers(world: World, receiver: Receiver) -> None:
    """Directscale requests carry the message id, the ClientId constant and the Bearer token."""
    world.env = {"DS_TOKEN": "tok-123"}
    note_id, headers = _deliver(world, receiver, header_style="directscale", headers=DS_HEADERS)
    assert headers["x-directscale-message-id"] == note_id
    assert headers["x-directscale-client-id"] == "1042"
    assert headers["authorization"] == "Bearer tok-123"
    assert headers["deltahook-event-detected-at"] == DETECTED


def test_directscale_client_id_from_the_subscription(world: World, receiver: Receiver) -> None:
    """A subscription's own X-Directscale-Client-Id header wins over the ClientId constant."""
    world.env = {"DS_TOKEN": "tok-123"}
    mine = DS_HEADERS | {"X-Directscale-Client-Id": "acme-eu"}
    _note, headers = _deliver(world, receiver, header_style="directscale", headers=mine)
    assert headers["x-directscale-client-id"] == "acme-eu"


def test_directscale_body_envelope(world: World, receiver: Receiver) -> None:
    """The body has EventType, EventCategory and EventDateUtc (the detection time) beside the
    payload's fields; the stored payload is unchanged."""
    world.env = {"DS_TOKEN": "tok-123"}
    _deliver(world, receiver, header_style="directscale", headers=DS_HEADERS)
    body = orjson.loads(receiver.requests[0].body)
    assert body == {
        "EventType": "SkuChangedNotification",
        "EventCategory": "Product",
        "EventDateUtc": DETECTED,
        "ClientId": 1042,
        "PartNo": "P-1",
    }
    assert datetime.fromisoformat(body["EventDateUtc"]) == T0
    with world.db.connect() as conn:
        [stored] = conn.execute(select(notifications.c.payload)).scalars()
    assert orjson.loads(stored) == {"ClientId": 1042, "PartNo": "P-1"}


def test_directscale_signature_covers_the_envelope(world: World, receiver: Receiver) -> None:
    """A signed directscale request verifies over the body as sent, envelope included."""
    world.now = now = utc_now()  # the library checks the timestamp's freshness
    world.env = {"DS_TOKEN": "tok-123"}
    world.subscribe(
        "shop", receiver.url, header_style="directscale", headers=DS_HEADERS, secrets=[SECRET]
    )
    world.notify()
    world.run()
    [request] = receiver.requests
    verified = Webhook(SECRET).verify(request.body, request.headers)
    assert verified["EventType"] == "SkuChangedNotification"
    assert verified["EventCategory"] == "System"  # a type outside the categories given
    detected = now.replace(microsecond=now.microsecond // 1000 * 1000)
    assert datetime.fromisoformat(verified["EventDateUtc"]) == detected


def test_directscale_test_send(world: World, receiver: Receiver) -> None:
    """A test send to a directscale subscription goes out in the envelope with its headers."""
    world.env = {"DS_TOKEN": "tok-123"}
    world.subscribe("shop", receiver.url, header_style="directscale", headers=DS_HEADERS)
    sub = world.stored("shop")
    result = asyncio.run(
        send_test(
            sub,
            constants={"ClientId": 7},
            now=T0,
            message_id="m-1",
            allow_private=True,
            env=world.env,
        )
    )
    assert result["succeeded"]
    [request] = receiver.requests
    assert request.headers["x-directscale-message-id"] == "m-1"
    assert request.headers["x-directscale-client-id"] == "7"
    body = orjson.loads(request.body)
    assert (body["EventType"], body["EventCategory"], body["EventDateUtc"]) == (
        "TestEvent",
        "System",
        DETECTED,
    )


def test_directscale_needs_a_bearer_authorization_header() -> None:
    """A directscale subscription without an ``Authorization: Bearer`` header is refused."""
    with pytest.raises(ValidationError, match="Authorization: Bearer"):
        SubscriptionSettings(
            name="ds", url="https://ds.example/", event_types=["*"], header_style="directscale"
        )
    SubscriptionSettings(
        name="ds",
        url="https://ds.example/",
        event_types=["*"],
        header_style="directscale",
        headers={"authorization": "Bearer ${DS_TOKEN}"},
    )


def test_an_ingest_detected_change_reaches_the_receiver_with_its_detection_time(
    database_url: str, receiver: Receiver
) -> None:
    """A change ingested at T0 and sent 90 s later says T0 in the header and EventDateUtc, with
    the event type's category from the shipped catalog."""
    subscription = SubscriptionSettings(
        name="ds",
        url=receiver.url,
        event_types=["SkuChangedNotification"],
        header_style="directscale",
        headers=DS_HEADERS,
    )
    settings = Settings(
        database_url=database_url, allow_private_urls=True, subscriptions=[subscription]
    )
    with Engine.from_settings(settings, clock=lambda: T0) as engine:
        engine.ingest("sku", FIXTURES / "v1" / "sku.ndjson", baseline=True)
        assert engine.ingest("sku", FIXTURES / "v2" / "sku.ndjson").counts.deliveries > 0
    world = World(database_url, now=SENT)
    world.env = {"DS_TOKEN": "tok-123"}
    world.run(categories=event_categories(settings.event_schemas_dir), client_id=1)
    request = receiver.requests[0]
    assert request.headers["deltahook-event-detected-at"] == DETECTED
    body = orjson.loads(request.body)
    assert (body["EventType"], body["EventCategory"], body["EventDateUtc"]) == (
        "SkuChangedNotification",
        "Product",
        DETECTED,
    )
    assert "PartNo" in body
    world.close()
