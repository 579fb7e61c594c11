"""`POST /v1/deliveries/retry-failed`: the console Log tab's "Retry all failed" over the API,
with the same filters and bound, and a 4xx JSON answer for a request it cannot carry out."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from deltahook.delivery.status import DeliveryStatus
from deltahook.store.db import open_engine
from deltahook.store.tables import deliveries
from tests.api_support import client

SHOP = {"name": "shop", "url": "https://shop.example/hook", "event_types": ["OrderConfirmedEvent"]}
ERP = {"name": "erp", "url": "https://erp.example/hook", "event_types": ["*"]}
ORDER = {"OrderId": 7, "OrderNo": "A-7", "ClientOrderRef": "r-7", "Source": "web"}
ROUTE = "/v1/deliveries/retry-failed"


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'db.sqlite'}"


@pytest.fixture
def api(url: str) -> Iterator[TestClient]:
    with client(url, subscriptions=[ERP], allow_private_urls=False) as test_client:
        test_client.post("/v1/subscriptions", json=SHOP)
        for number in range(3):
            test_client.post("/v1/events/OrderConfirmedEvent", json=ORDER | {"OrderId": number})
        yield test_client


def fail_all(url: str, status: DeliveryStatus) -> None:
    db = open_engine(url)
    try:
        with db.begin() as conn:
            conn.execute(update(deliveries).values(status=status, next_attempt_at=None))
    finally:
        db.dispose()


def statuses(api: TestClient, subscription: str) -> list[str]:
    found = api.get("/v1/deliveries", params={"subscription": subscription}).json()["items"]
    return sorted(item["status"] for item in found)


def test_every_failed_delivery_matching_the_filters_is_queued_again(
    api: TestClient, url: str
) -> None:
    """Dead deliveries of one subscription go back to pending; the other's stay dead."""
    fail_all(url, DeliveryStatus.DEAD)
    answer = api.post(ROUTE, json={"subscription": "shop", "type": "OrderConfirmedEvent"})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"queued": 3, "more": False, "left_alone": []}
    assert statuses(api, "shop") == ["pending"] * 3
    assert statuses(api, "erp") == ["dead"] * 3


def test_the_limit_bounds_one_call_and_more_says_so(api: TestClient, url: str) -> None:
    """At most ``limit`` a call, newest first; ``more`` is true when the limit was reached."""
    fail_all(url, DeliveryStatus.RETRYING)
    left: dict[str, list[str]] = {"left_alone": []}
    assert api.post(ROUTE, json={"limit": 4}).json() == {"queued": 4, "more": True} | left
    assert api.post(ROUTE, json={"status": "dead"}).json() == {"queued": 0, "more": False} | left
    assert api.post(ROUTE, json={}).json() == {"queued": 2, "more": False} | left


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"subscription": "nope"}, 404, "no subscription named 'nope'"),  # unknown subscription
        ({"type": "NoSuchEvent"}, 404, "NoSuchEvent"),  # unknown event type
        ({"status": "delivered"}, 422, "status"),  # only failed, retrying or dead
        ({"limit": 0}, 422, "limit"),  # at least one
        ({"limit": 1001}, 422, "limit"),  # the console's bound at most
        ({"since": "2026-01-01T00:00:00"}, 422, "since"),  # a time without its zone
        (
            {"since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
            422,
            "until",
        ),  # an empty window
        ({"subscriptions": "shop"}, 422, "subscriptions"),  # an unknown field
        ("not json", 400, "JSON"),  # a body that is not JSON
    ],
)
def test_a_request_it_cannot_carry_out_is_a_4xx_json_error(
    api: TestClient, body: dict[str, object] | str, status: int, words: str
) -> None:
    """Unknown names are 404, a malformed body 400, a body outside the schema 422, each the
    API's JSON error saying what is wrong."""
    if isinstance(body, str):
        answer = api.post(ROUTE, content=body, headers={"Content-Type": "application/json"})
    else:
        answer = api.post(ROUTE, json=body)
    assert answer.status_code == status, answer.text
    assert words in answer.text
    assert answer.json()["error"] in {"bad_request", "not_found", "invalid_request", "conflict"}


def test_a_subscription_that_is_off_is_refused_as_recover_refuses_it(api: TestClient) -> None:
    """Its deliveries would only wait: 409, saying to switch it on first."""
    api.patch("/v1/subscriptions/shop", json={"enabled": False})
    answer = api.post(ROUTE, json={"subscription": "shop"})
    assert answer.status_code == 409
    assert "switch it on first" in answer.json()["message"]


def test_the_subscriptions_it_left_alone_are_named(api: TestClient, url: str) -> None:
    """Failed deliveries of a subscription switched off, or deleted, are not queued again; the
    answer names the subscriptions so left, rather than a bare count that says nothing."""
    fail_all(url, DeliveryStatus.DEAD)
    api.patch("/v1/subscriptions/shop", json={"enabled": False})
    answer = api.post(ROUTE, json={}).json()
    assert answer == {"queued": 3, "more": False, "left_alone": ["shop"]}
    assert statuses(api, "shop") == ["dead"] * 3
    api.delete("/v1/subscriptions/shop")
    assert api.post(ROUTE, json={"status": "dead"}).json()["left_alone"] == ["shop"]


def test_the_openapi_document_describes_it(api: TestClient) -> None:
    """Its body, answer and error statuses are in the schema clients are generated from."""
    operation = api.get("/openapi.json").json()["paths"][ROUTE]["post"]
    assert {"200", "400", "404", "409", "422"} <= set(operation["responses"])
    assert operation["requestBody"]["required"] is True
