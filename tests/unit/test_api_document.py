"""The served OpenAPI document says what the server accepts: its event types, their payloads,
the webhook URLs of this server, the delivery log's cursors."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from deltahook.catalog.events import EventCatalog
from deltahook.delivery.pages import CURSOR_PATTERN
from tests.api_support import client


def _document(tmp_path: Path, **values: Any) -> dict[str, Any]:
    with client(f"sqlite:///{tmp_path / 'db.sqlite'}", **values) as api:
        document: dict[str, Any] = api.get("/openapi.json").json()
        return document


def test_each_event_type_that_may_be_posted_has_an_operation_with_its_payload(
    tmp_path: Path, events: EventCatalog
) -> None:
    """One POST per type of the event family, its body the type's payload schema (ClientId and
    ApplicationId optional: the constants fill them); notifications, which only rules derive,
    have none."""
    document = _document(tmp_path)
    posted = {path.removeprefix("/v1/events/") for path in document["paths"] if "/events/" in path}
    assert posted == {e.name for e in events if e.family == "event"}
    order = document["paths"]["/v1/events/OrderConfirmedEvent"]["post"]
    body = order["requestBody"]["content"]["application/json"]["schema"]
    assert (
        body["properties"].keys()
        == events.require("OrderConfirmedEvent").schema["properties"].keys()
    )
    assert set(body["required"]) == {"OrderId", "OrderNo", "ClientOrderRef", "Source"}
    assert [p["name"] for p in order["parameters"]] == ["Idempotency-Key"]


def test_the_example_of_each_event_operation_is_accepted(
    tmp_path: Path, events: EventCatalog
) -> None:
    """Each type's own example, posted to its operation's path, is recorded (201)."""
    with client(f"sqlite:///{tmp_path / 'db.sqlite'}") as api:
        paths = api.get("/openapi.json").json()["paths"]
        for path in (p for p in paths if p.startswith("/v1/events/")):
            body = paths[path]["post"]["requestBody"]["content"]["application/json"]["schema"]
            answer = api.post(path, json=body["examples"][0])
            assert answer.status_code == 201, (path, answer.text)


@pytest.mark.parametrize(
    ("allow_private", "loopback_valid"),
    [(False, False), (True, True)],  # the pattern follows allow_private_urls
)
def test_the_webhook_url_pattern_is_this_servers(
    tmp_path: Path, allow_private: bool, loopback_valid: bool
) -> None:
    """A subscription's url pattern admits loopback addresses only where the server does."""
    document = _document(tmp_path, allow_private_urls=allow_private)
    schemas = document["components"]["schemas"]
    made = schemas["SubscriptionIn"]["properties"]["url"]["pattern"]
    (patched,) = [
        v["pattern"]
        for v in schemas["SubscriptionPatch"]["properties"]["url"]["anyOf"]
        if v.get("type") == "string"
    ]
    assert made == patched
    assert re.search(made, "https://shop.example/hooks")
    assert bool(re.search(made, "http://127.0.0.1:8080/hooks")) is loopback_valid
    assert not re.search(made, "ftp://shop.example/")


def test_the_cursor_parameter_gives_its_format(tmp_path: Path) -> None:
    """The delivery log's cursor is documented with the pattern every next_cursor matches."""
    document = _document(tmp_path)
    parameters = document["paths"]["/v1/deliveries"]["get"]["parameters"]
    (cursor,) = [p for p in parameters if p["name"] == "cursor"]
    (text,) = [v for v in cursor["schema"]["anyOf"] if v.get("type") == "string"]
    assert text["pattern"] == CURSOR_PATTERN
