"""Values at the edge of their range get a 4xx naming the field, never a 500.

Each row is a request a hostile or careless client sent to a running server, which answered
500 (an ``OverflowError`` deep in the store or the dispatcher) before it was caught here.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from deltahook.delivery.pages import CURSOR_PATTERN, decode_cursor, encode_cursor
from tests.api_support import client

SHOP = {"name": "shop", "url": "https://shop.example/hook", "event_types": ["*"]}
# Valid ISO 8601 times whose UTC reading is past year 9999 or before year 1.
PAST_9999 = "9999-12-31T23:59:59-14:00"
BEFORE_1 = "0001-01-01T00:00:00+14:00"


@pytest.fixture
def api(tmp_path: Path) -> Iterator[TestClient]:
    with client(f"sqlite:///{tmp_path / 'db.sqlite'}", subscriptions=[SHOP]) as test_client:
        yield test_client


def _old_cursor(text: str, delivery_id: str = "some-id") -> str:
    """A cursor as this API once gave them out (base64 of time|id)."""
    return base64.urlsafe_b64encode(f"{text}|{delivery_id}".encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"since": PAST_9999}, 422),  # a time zone pushes it past 9999 in UTC
        ({"until": BEFORE_1}, 422),  # ... or before year 1
        ({"since": "9999-12-31T23:59:59Z"}, 200),  # the last second there is, in UTC, is fine
        ({"since": "1700000000"}, 422),  # not read as seconds since 1970
        ({"until": "0"}, 422),
        ({"cursor": "1" * 18 + ".abc"}, 400),  # a cursor past the pattern's year 5138
        ({"cursor": "1.a\x00b"}, 422),  # a NUL (PostgreSQL: 503), refused before the cursor
        ({"cursor": "1.a-b\x00"}, 422),
        ({"cursor": _old_cursor("2026-11-30T11:00:00+00:00")}, 400),  # an old one: say so
        ({"cursor": "0." + "f" * 36}, 200),  # 1970: a position like any other
        ({"cursor": "99999999999999999.0"}, 200),  # the last the pattern allows: year 5138
    ],
)
def test_log_parameters_no_store_can_hold_are_refused(
    api: TestClient, params: dict[str, str], status: int
) -> None:
    """The delivery log refuses a time (or a cursor's id) no store can hold, not fail on it."""
    answer = api.get("/v1/deliveries", params=params)
    assert answer.status_code == status, answer.text


def test_a_cursor_the_api_gave_out_still_pages() -> None:
    """A cursor stands for the position it was made from, to the microsecond."""
    when = datetime(2026, 11, 30, 11, 0, 0, 123456, tzinfo=UTC)
    delivery = "01a2344d-5085-78f7-8731-08de9f32c968"
    assert decode_cursor(encode_cursor(when, delivery)) == (when, delivery)
    assert re.fullmatch(CURSOR_PATTERN.strip("^$"), encode_cursor(when, delivery))


@pytest.mark.parametrize(
    "body",
    [
        {"since": PAST_9999},
        {"since": BEFORE_1},
        {"since": 0},  # a number is not read as seconds since 1970
        {"since": "2026-11-30T10:00:00Z", "until": 0},  # "until 0" is no "until none"
    ],
)
def test_recover_refuses_a_time_out_of_range_or_not_written_out(
    api: TestClient, body: dict[str, object]
) -> None:
    """POST .../recover names the field whose time is refused."""
    answer = api.post("/v1/subscriptions/shop/recover", json=body)
    assert answer.status_code == 422, answer.text
    assert answer.json()["details"][0]["loc"] == ["body", list(body)[-1]]


@pytest.mark.parametrize(
    "bad",
    [
        {"retry_schedule": "9999999999999999d"},  # beyond what a timedelta holds
        {"retry_schedule": "5s, 999999999d"},  # holds, but now + it overflows at the retry
        {"retry_schedule": [5, 1e13]},  # in seconds (the API allows 7 days at most)
        {"circuit_cooldown": "99999999999999d"},
        {"circuit_cooldown": 1e13},  # now + it overflows when the circuit opens
        {"disable_after": "99999999999d"},
    ],
)
def test_durations_too_long_to_schedule_are_refused(
    api: TestClient, bad: dict[str, object]
) -> None:
    """A subscription's durations are at most 10 years: 422, not a 500 or a stuck dispatcher."""
    answer = api.post("/v1/subscriptions", json=SHOP | {"name": "long"} | bad)
    assert answer.status_code == 422, answer.text
    [field] = bad
    assert field in answer.json()["message"]


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("OPTIONS", "/v1/subscriptions/shop", "DELETE, GET, HEAD, PATCH"),  # three routes, one path
        ("PUT", "/v1/subscriptions", "GET, HEAD, POST"),
        ("DELETE", "/v1/event-types", "GET, HEAD"),  # HEAD wherever GET is
        ("PUT", "/openapi.json", "GET, HEAD"),  # Starlette's own route says the same
        ("GET", "/v1/subscriptions/shop/test", "POST"),  # no GET, so no HEAD
    ],
)
def test_a_405_lists_every_method_of_the_path(
    api: TestClient, method: str, path: str, allow: str
) -> None:
    """``Allow`` names what the resource supports (RFC 9110), not just its first route's,
    and HEAD wherever GET is."""
    answer = api.request(method, path)
    assert answer.status_code == 405
    assert answer.headers["allow"] == allow
    assert answer.json()["error"] == "method_not_allowed"


def test_healthz_answers_head_as_load_balancers_send_it(api: TestClient) -> None:
    """``HEAD /healthz`` (no key) answers as GET does, without a body."""
    answer = api.head("/healthz", headers={"Authorization": ""})
    assert answer.status_code == 200
    assert answer.content == b""
