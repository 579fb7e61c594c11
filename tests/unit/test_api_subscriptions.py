"""Subscriptions and the delivery log through the API: one source of truth with the config file."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from deltahook.clock import utc_now
from deltahook.delivery.receiver import Receiver
from deltahook.store.db import open_engine
from tests.api_support import client

DECLARED = {"name": "erp", "url": "https://erp.example/hook", "event_types": ["*"]}
SHOP = {"name": "shop", "url": "https://shop.example/hook", "event_types": ["OrderConfirmedEvent"]}
ORDER = {"OrderId": 7, "OrderNo": "A-7", "ClientOrderRef": "r-7", "Source": "web"}


@pytest.fixture
def api(tmp_path: Path) -> Iterator[TestClient]:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    with client(url, subscriptions=[DECLARED], allow_private_urls=False) as test_client:
        yield test_client


def test_subscriptions_are_made_changed_and_deleted_without_showing_secrets(
    api: TestClient,
) -> None:
    """Create, read, patch and delete an API subscription; header values never come back."""
    made = api.post(
        "/v1/subscriptions",
        json=SHOP | {"headers": {"X-Token": "t0ken-value"}, "retry_schedule": "5s, 1m"},
    )
    assert made.status_code == 201, made.text
    assert made.json() | {"timeout_s": 0} == {
        "name": "shop",
        "enabled": True,
        "url": "https://shop.example/hook",
        "event_types": ["OrderConfirmedEvent"],
        "header_style": "norce",
        "signed": False,
        "timeout_s": 0,
        "retries": 2,
        "max_concurrency": 10,
        "source": "api",
        "rate_limit": None,
        "failures": 0,
        "last_success_at": None,
        "last_status_code": None,
        "circuit_open_until": None,
        "disabled_reason": None,
        "headers": ["X-Token"],
    }
    assert "t0ken-value" not in api.get("/v1/subscriptions").text
    changed = api.patch(
        "/v1/subscriptions/shop", json={"url": "https://shop.example/v2", "enabled": False}
    ).json()
    assert (changed["url"], changed["enabled"]) == ("https://shop.example/v2", False)
    assert api.get("/v1/subscriptions/shop").json()["url"] == "https://shop.example/v2"
    assert api.delete("/v1/subscriptions/shop").json() == {"name": "shop", "ended_deliveries": 0}
    assert api.get("/v1/subscriptions/shop").status_code == 404
    assert [s["name"] for s in api.get("/v1/subscriptions").json()] == ["erp"]


def test_a_password_in_a_url_is_never_shown_and_kept_when_the_url_comes_back_as_shown(
    api: TestClient, tmp_path: Path
) -> None:
    """``https://user:pass@host/`` is listed as ``user:****``; a PATCH that sends the URL as
    listed keeps the password, one that sends another URL replaces it."""
    secret_url = "https://shop:pa55-w0rd@shop.example/hook"
    made = api.post("/v1/subscriptions", json=SHOP | {"url": secret_url})
    assert made.json()["url"] == "https://shop:****@shop.example/hook"
    listed = api.get("/v1/subscriptions").text
    assert "pa55-w0rd" not in listed
    kept = api.patch(
        "/v1/subscriptions/shop", json={"url": made.json()["url"], "event_types": ["*"]}
    )
    assert kept.status_code == 200, kept.text
    engine = open_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    try:
        with engine.connect() as conn:
            stored = conn.exec_driver_sql("SELECT url FROM subscriptions WHERE name = 'shop'")
            assert stored.scalar_one() == secret_url
        api.patch("/v1/subscriptions/shop", json={"url": "https://shop.example/v2"})
        with engine.connect() as conn:
            stored = conn.exec_driver_sql("SELECT url FROM subscriptions WHERE name = 'shop'")
            assert stored.scalar_one() == "https://shop.example/v2"
    finally:
        engine.dispose()


def test_config_declared_subscriptions_are_read_only_except_on_off(api: TestClient) -> None:
    """The file owns what it declares: 409 for changes, delete and taking its name."""
    assert api.get("/v1/subscriptions/erp").json()["source"] == "config"
    refused = api.patch("/v1/subscriptions/erp", json={"url": "https://elsewhere.example/"})
    assert refused.status_code == 409
    assert "config file" in refused.json()["message"]
    assert api.delete("/v1/subscriptions/erp").status_code == 409
    assert api.post("/v1/subscriptions", json=DECLARED).status_code == 409
    assert api.patch("/v1/subscriptions/erp", json={"enabled": False}).json()["enabled"] is False
    assert api.post("/v1/subscriptions", json=SHOP).status_code == 201
    assert api.post("/v1/subscriptions", json=SHOP).status_code == 409  # the name is taken
    assert api.patch("/v1/subscriptions/nope", json={"enabled": True}).status_code == 404


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:9000/", "http://10.0.0.5/hook", "http://169.254.169.254/", "http://[::1]/"],
)
def test_private_webhook_urls_are_refused_unless_allowed(api: TestClient, url: str) -> None:
    """On create and on change: 422 naming the setting that would allow it."""
    answer = api.post("/v1/subscriptions", json=SHOP | {"url": url})
    assert answer.status_code == 422
    assert "allow_private_urls" in answer.json()["message"]
    api.post("/v1/subscriptions", json=SHOP)
    assert api.patch("/v1/subscriptions/shop", json={"url": url}).status_code == 422


def test_invalid_settings_get_422(api: TestClient) -> None:
    """Headers, secrets and schedules are checked as the config file's are."""
    for bad in (
        {"secrets": ["not-a-whsec-secret"]},
        {"retry_schedule": "soon"},
        {"headers": {"Bad Header": "x"}},
        {"url": "ftp://shop.example/"},
    ):
        assert api.post("/v1/subscriptions", json=SHOP | bad).status_code == 422, bad


def test_a_test_send_reaches_the_endpoint_and_reports_its_answer(tmp_path: Path) -> None:
    """POST .../test sends a TestEvent now, whether the subscription is on or off."""
    with Receiver() as receiver:
        local = {"name": "local", "url": receiver.url, "event_types": ["*"], "enabled": False}
        with client(f"sqlite:///{tmp_path / 'db.sqlite'}", subscriptions=[local]) as api:
            report = api.post("/v1/subscriptions/local/test").json()
        [request] = receiver.wait_for(1)
    assert (report["succeeded"], report["status_code"]) == (True, 200)
    assert request.headers["norce-event-type"] == "TestEvent"
    assert report["message_id"] == request.message_id


def test_a_user_name_and_password_in_the_url_go_as_basic_authorization(tmp_path: Path) -> None:
    """``http://user:pass@host/`` authenticates as curl and httpx would, with HTTP Basic (the
    credentials were dropped: the receiver saw no Authorization); an Authorization header of
    the subscription's own wins."""
    with Receiver() as receiver:
        in_url = receiver.url.replace("http://", "http://shop%40web:pa55%3Aw0rd@")
        subscriptions = [
            {"name": "basic", "url": in_url, "event_types": ["*"]},
            {
                "name": "own",
                "url": in_url,
                "event_types": ["*"],
                "headers": {"Authorization": "Bearer own-token-0123456789"},
            },
        ]
        with client(f"sqlite:///{tmp_path / 'db.sqlite'}", subscriptions=subscriptions) as api:
            for name in ("basic", "own"):
                assert api.post(f"/v1/subscriptions/{name}/test").json()["succeeded"]
        basic, own = receiver.wait_for(2)
    # percent-escapes decoded, as RFC 3986 userinfo is: user shop@web, password pa55:w0rd
    assert basic.headers["authorization"] == "Basic c2hvcEB3ZWI6cGE1NTp3MHJk"
    assert own.headers["authorization"] == "Bearer own-token-0123456789"


def test_the_delivery_log_filters_pages_resends_and_recovers(api: TestClient) -> None:
    """Queued deliveries list newest first, page by cursor, and resend or recover by rules."""
    api.post("/v1/subscriptions", json=SHOP)
    for number in range(5):
        api.post("/v1/events/OrderConfirmedEvent", json=ORDER | {"OrderId": number})
    everything = api.get("/v1/deliveries", params={"limit": 1000}).json()["items"]
    shop = api.get("/v1/deliveries", params={"subscription": "shop", "limit": 2}).json()
    assert len(shop["items"]) == 2
    seen = [item["id"] for item in shop["items"]]
    while shop["next_cursor"]:
        shop = api.get(
            "/v1/deliveries",
            params={"subscription": "shop", "limit": 2, "cursor": shop["next_cursor"]},
        ).json()
        seen += [item["id"] for item in shop["items"]]
    assert len(seen) == len(set(seen)) == 5
    assert len(everything) == 10  # erp wants every type
    with_payload = api.get("/v1/deliveries", params={"payload": True, "limit": 1}).json()
    assert with_payload["items"][0]["payload"]["OrderNo"] == "A-7"
    later = (utc_now() + timedelta(hours=1)).isoformat()
    assert api.get("/v1/deliveries", params={"since": later}).json()["items"] == []
    assert api.get("/v1/deliveries", params={"status": "failed"}).json()["items"] == []
    assert api.get("/v1/deliveries", params={"since": "yesterday"}).status_code == 422
    assert api.get("/v1/deliveries", params={"cursor": "garbage!"}).status_code == 400

    assert api.post(f"/v1/deliveries/{seen[0]}/resend").json() == {"outcome": {seen[0]: "queued"}}
    assert api.post("/v1/deliveries/unknown-id/resend").status_code == 404
    api.patch("/v1/subscriptions/shop", json={"enabled": False})
    off = api.post(f"/v1/deliveries/{seen[0]}/resend")
    assert (off.status_code, "subscription off" in off.json()["message"]) == (409, True)
    since = (utc_now() - timedelta(days=1)).isoformat()
    assert api.post("/v1/subscriptions/erp/recover", json={"since": since}).json() == {
        "subscription": "erp",
        "queued": 0,  # nothing failed yet
    }
    assert api.post("/v1/subscriptions/shop/recover", json={"since": since}).status_code == 409
    naive = api.post("/v1/subscriptions/erp/recover", json={"since": "2026-01-01T00:00:00"})
    assert naive.status_code == 422  # a time without its zone is ambiguous


def test_deleting_an_api_subscription_ends_its_queued_deliveries(api: TestClient) -> None:
    """Deleting an API-made subscription ends its queued deliveries as dead, saying why."""
    api.post("/v1/subscriptions", json=SHOP)
    api.post("/v1/events/OrderConfirmedEvent", json=ORDER)
    assert api.delete("/v1/subscriptions/shop").json()["ended_deliveries"] == 1
    [dead] = api.get("/v1/deliveries", params={"subscription": "shop"}).json()["items"]
    assert (dead["status"], dead["last_error"]) == ("dead", "the subscription was deleted")


def test_metrics_count_ingests_notifications_and_deliveries(api: TestClient) -> None:
    """Prometheus text: counters of this process's ingests and events, the queue's gauges."""
    before = _samples(api)
    api.post("/v1/feeds/sku_onhand", content=b'{"PartNo": 1}\n')
    api.post("/v1/events/OrderConfirmedEvent", json=ORDER)
    after = _samples(api)
    rejected = (
        "deltahook_ingested_entities_total",
        (("kind", "sku_onhand"), ("outcome", "rejected")),
    )
    assert after[rejected] - before.get(rejected, 0) == 1
    confirmed = ("deltahook_notifications_total", (("type", "OrderConfirmedEvent"),))
    assert after[confirmed] - before.get(confirmed, 0) == 1
    assert after[("deltahook_queue_depth", (("status", "pending"),))] == 2
    text = api.get("/metrics").text
    assert "# TYPE deltahook_delivery_attempt_duration_seconds histogram" in text


def _samples(api: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(api.get("/metrics").text)
        for sample in family.samples
    }


def test_healthz_says_when_the_database_is_unreachable(api: TestClient) -> None:
    """503 with the same shape, so a load balancer can take the instance out."""
    engine = api.app.state.engine  # type: ignore[attr-defined]
    real = engine.db
    engine.db = open_engine("postgresql://nobody@127.0.0.1:9/none", check_schema=False)
    try:
        answer = api.get("/healthz")
    finally:
        engine.db = real
    assert answer.status_code == 503
    assert answer.json() == {
        "status": "unavailable",
        "database": "unreachable",
        "dispatcher": None,
    }


def test_a_misspelt_event_type_is_refused_with_a_suggestion(api: TestClient) -> None:
    """POST and PATCH with an event type nobody knows answer 422 naming the close one."""
    made = api.post("/v1/subscriptions", json=SHOP | {"event_types": ["OrderConfirmedEvnt"]})
    assert made.status_code == 422, made.text
    body = made.json()
    assert "did you mean OrderConfirmedEvent" in body["message"]
    assert body["details"][0]["loc"] == ["event_types", "0"]
    assert api.get("/v1/subscriptions/shop").status_code == 404
    assert api.post("/v1/subscriptions", json=SHOP).status_code == 201
    changed = api.patch("/v1/subscriptions/shop", json={"event_types": ["*", "TestEvnt"]})
    assert changed.status_code == 422, changed.text
    assert "unknown event type 'TestEvnt'" in changed.json()["message"]
    assert api.get("/v1/subscriptions/shop").json()["event_types"] == ["OrderConfirmedEvent"]


def test_a_header_named_twice_in_two_cases_is_refused(api: TestClient) -> None:
    """``X-Api-Key`` and ``x-api-key`` are one header: a 422 naming both, on create and on
    change (both were sent, and the receiver read ``a, b`` or the first)."""
    twice = {"headers": {"X-Api-Key": "a", "x-api-key": "b"}}
    answer = api.post("/v1/subscriptions", json=SHOP | twice)
    assert answer.status_code == 422, answer.text
    assert "'X-Api-Key' and 'x-api-key' are one header" in answer.json()["message"]
    api.post("/v1/subscriptions", json=SHOP)
    assert api.patch("/v1/subscriptions/shop", json=twice).status_code == 422


def test_a_directscale_subscription_needs_a_bearer_header(api: TestClient) -> None:
    """Over the API as in the file: directscale without Authorization: Bearer is 422."""
    directscale = SHOP | {"header_style": "directscale"}
    answer = api.post("/v1/subscriptions", json=directscale)
    assert answer.status_code == 422
    assert "Authorization: Bearer" in answer.text
    bearer = {"headers": {"Authorization": "Bearer ${SHOP_TOKEN}"}}
    made = api.post("/v1/subscriptions", json=directscale | bearer)
    assert made.status_code == 201, made.text
    assert made.json()["header_style"] == "directscale"


def test_a_header_value_outside_ascii_is_refused(api: TestClient) -> None:
    """A custom header no request could carry is a 422 naming it (invalid UTF-8 was a 500,
    and an accented value was stored and then crashed every delivery attempt)."""
    body = b'{"name": "shop", "url": "https://shop.example/hook", "event_types": ["*"], '
    for value in (b"caf\\u00e9", b"a\\ud800"):
        answer = api.post(
            "/v1/subscriptions",
            content=body + b'"headers": {"X-Token": "' + value + b'"}}',
            headers={"Content-Type": "application/json"},
        )
        assert answer.status_code == 422, answer.text
        assert "header 'X-Token' has a character outside ASCII" in answer.json()["message"]


@pytest.mark.parametrize(
    ("settings", "reason"),
    [
        ({"retry_schedule": [1] * 101}, "the retry schedule has 101 delays; at most 100"),
        ({"headers": {f"X-H{i}": "v" for i in range(51)}}, "51 headers; a subscription has"),
        ({"headers": {"X-Big": "v" * 8_193}}, "header 'X-Big' is longer than 8,192 characters"),
    ],
)
def test_a_schedule_or_headers_past_what_a_receiver_takes_are_refused(
    api: TestClient, settings: dict[str, object], reason: str
) -> None:
    """A hundred-thousand-step schedule kept a dead endpoint's deliveries going round for
    ever; thousands of headers, or one of megabytes, made every request one no receiver
    takes (431): each is a 422 naming the limit (a hundred delays, fifty headers, 8 KB)."""
    answer = api.post("/v1/subscriptions", json=SHOP | settings)
    assert answer.status_code == 422, answer.text
    assert reason in answer.text
    assert api.post("/v1/subscriptions", json=SHOP | {"retry_schedule": [1] * 100}).is_success


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://shop..example/hook", "is not a host name"),
        ("https://shop.example:99999/hook", "port must be 1 to 65535"),
    ],
)
def test_a_url_no_connection_could_be_made_to_is_refused(
    api: TestClient, url: str, reason: str
) -> None:
    """On create and on change: 422 with the reason (it was stored, and its test send then
    answered 500 from the resolver's UnicodeError or OverflowError)."""
    answer = api.post("/v1/subscriptions", json=SHOP | {"url": url})
    assert answer.status_code == 422, answer.text
    assert reason in answer.json()["message"]
    api.post("/v1/subscriptions", json=SHOP)
    changed = api.patch("/v1/subscriptions/shop", json={"url": url})
    assert changed.status_code == 422, changed.text
    assert reason in changed.json()["message"]


def test_a_header_that_frames_the_request_is_refused(api: TestClient) -> None:
    """Content-Length or Transfer-Encoding as a custom header is a 422 naming it: it was
    stored and sent beside the real framing (a test send then answered 500, or a receiver
    that reads Content-Length took the body for a second request)."""
    for name, value in (("Content-Length", "0"), ("Transfer-Encoding", "chunked")):
        answer = api.post("/v1/subscriptions", json=SHOP | {"headers": {name: value}})
        assert answer.status_code == 422, answer.text
        assert f"header {name!r} is set by deltahook" in answer.json()["message"]


def test_the_document_names_the_event_types_a_subscription_may_list(api: TestClient) -> None:
    """Items are non-empty names from the catalog or "*": what the server accepts, so a client
    generating from the document makes no request the server refuses for its event types."""
    schemas = api.get("/openapi.json").json()["components"]["schemas"]
    made = schemas["SubscriptionIn"]["properties"]["event_types"]["items"]
    (patched,) = [
        v["items"]
        for v in schemas["SubscriptionPatch"]["properties"]["event_types"]["anyOf"]
        if v.get("type") == "array"
    ]
    assert made == patched
    assert made["minLength"] == 1
    assert made["enum"][0] == "*"
    assert "OrderConfirmedEvent" in made["enum"]
    for number, name in enumerate(made["enum"]):
        sub = SHOP | {"name": f"shop{number}", "event_types": [name]}
        assert api.post("/v1/subscriptions", json=sub).status_code == 201, name
    for refused in ("", "NoSuchEvent"):
        sub = SHOP | {"name": "refused", "event_types": [refused]}
        assert api.post("/v1/subscriptions", json=sub).status_code == 422, refused
