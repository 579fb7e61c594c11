"""Addresses sent as they are, over a real socket: a path or query that is not UTF-8,
percent-encoded, is a 400 JSON error that says so, never a 500 nor a traceback in the log."""

from __future__ import annotations

import http.client
import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from deltahook.api import create_app
from deltahook.api.targets import target_problem
from deltahook.engine import Engine
from tests.api_support import AUTH, STOCK, ndjson, served, settings

SHOP = {"name": "shop", "url": "https://shop.example/hook", "event_types": ["*"]}


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder: Path = tmp_path_factory.mktemp("targets")
    engine = Engine.from_settings(
        settings(f"sqlite:///{folder / 'db.sqlite'}", subscriptions=[SHOP])
    )
    engine.ingest("sku_onhand", io.BytesIO(ndjson([STOCK])), fmt="ndjson")
    with served(create_app(engine.settings, engine=engine)) as url:
        yield url
    engine.close()


def _send(base: str, method: str, target: str, body: bytes = b"") -> tuple[int, dict[str, Any]]:
    """``target`` sent byte for byte (no client re-encodes it); the status and JSON body."""
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        headers = {**AUTH, "Content-Type": "application/json"}
        conn.request(method, target, body=body, headers=headers)
        answer = conn.getresponse()
        assert answer.getheader("content-type") == "application/json"
        return answer.status, json.loads(answer.read())
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("method", "target", "says"),
    [
        ("GET", "/v1/subscriptions/%FF", "%FF, which is not UTF-8"),  # no byte of UTF-8
        ("GET", "/v1/entities/sku/%C3", "%C3, which is not UTF-8"),  # a character cut short
        ("GET", "/v1/entities/sku/a%C0%AFb", "%C0, which is not UTF-8"),  # '/', overlong
        ("GET", "/v1/jobs/%ED%A0%80", "%ED, which is not UTF-8"),  # a surrogate's bytes
        ("GET", "/v1/entities/sku/%zz", "'%zz': a '%' must begin two hex digits"),
        ("GET", "/v1/entities/sku/100%", "'%': a '%' must begin"),  # a bare '%' at the end
        ("GET", "/v1/nothing/%FF", "%FF, which is not UTF-8"),  # before "no such route"
        ("GET", "/v1/deliveries?subscription=%FF", "the query holds %FF"),
        ("GET", "/v1/deliveries?%FF=1", "the query holds %FF"),  # in a name, too
        ("GET", "/v1/deliveries?cursor=%g0", "the query holds '%g0'"),
        ("POST", "/v1/feeds/sku_onhand?mode=%E2%82", "the query holds %E2%82"),
        ("POST", "/v1/subscriptions/%FF/recover", "the path holds %FF"),
        ("DELETE", "/v1/subscriptions/sh%op", "the path holds '%op'"),
    ],
)
def test_a_malformed_address_is_a_400_saying_what_is_wrong(
    base: str, method: str, target: str, says: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Every method, path and query: 400, the error body naming the bad bytes, nothing done,
    and the server logs no error."""
    with caplog.at_level(logging.INFO):
        status, body = _send(base, method, target, b'{"since": "2026-01-01T00:00:00Z"}')
    assert (status, body["error"]) == (400, "bad_request"), body
    assert says in body["message"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


@pytest.mark.parametrize(
    ("target", "status"),
    [
        ("/v1/subscriptions/%73hop", 200),  # an escape of an ASCII letter is that letter
        ("/v1/entities/sku_onhand/40017-BLK%7CSTHLM-DC%7CB2", 200),  # '|' escaped
        ("/v1/subscriptions/caf%C3%A9", 404),  # UTF-8 escaped: read, and not found
        ("/v1/subscriptions/caf%c3%a9", 404),  # hex digits in either case
        ("/v1/deliveries?subscription=caf%C3%A9+x&type=a%2Bb", 200),
        ("/v1/subscriptions/" + "a" * 8000, 404),  # a long segment: just not found
    ],
)
def test_a_well_formed_address_is_read_as_before(base: str, target: str, status: int) -> None:
    """Percent-encoded UTF-8, in either case, and long segments are read as they always were."""
    assert _send(base, "GET", target)[0] == status


def test_a_request_without_the_path_as_sent_is_judged_by_its_query_alone() -> None:
    """A server that gives no ``raw_path`` (it is optional in ASGI): only the query is judged."""
    assert target_problem(None, b"a=%41") is None
    assert target_problem(None, b"a=%FF") is not None
