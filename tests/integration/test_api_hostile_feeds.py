"""Hostile feeds through the API, on each database: per-record rejects by line, never a 500."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from deltahook.feeds.readers import Format
from tests.api_support import client
from tests.hostile_feeds import Cell, feed, stock
from tests.integration.test_hostile_feeds import CASES, NOT_FINITE, WIDE

MEDIA: dict[Format, str] = {"ndjson": "application/x-ndjson", "json": "application/json"}


@pytest.fixture
def api(database_url: str) -> Iterator[TestClient]:
    with client(database_url) as test_client:
        yield test_client


@pytest.mark.parametrize(("case", "cells", "field", "reason"), CASES, ids=[c[0] for c in CASES])
def test_a_hostile_record_is_one_reject_and_the_rest_go_in(
    api: TestClient, case: str, cells: dict[str, Cell], field: str, reason: str
) -> None:
    """201 with the bad record named by line, field and reason; the job keeps the reject."""
    for fmt, media in MEDIA.items():
        body = feed([stock(f"G1-{fmt}"), stock("BAD", **cells), stock(f"G2-{fmt}")], fmt)
        answer = api.post("/v1/feeds/sku_onhand", content=body, headers={"Content-Type": media})
        assert answer.status_code == 201, (fmt, answer.text)
        result = answer.json()
        assert result["counts"]["inserted"] == 2, fmt
        assert [(r["line"], r["field"], r["reason"]) for r in result["rejects"]] == [
            (3, field, reason)
        ]
        job = api.get(answer.headers["location"]).json()
        assert [(r["line"], r["field"]) for r in job["rejects"]] == [(3, field)]


@pytest.mark.parametrize(
    ("media", "body", "lines"),
    [
        # item 3: nesting 10,000 deep, in a JSON array and on an NDJSON line
        ("application/json", b"[\n" + b"[" * 10_000 + b"]" * 10_000 + b"\n]", [2]),
        ("application/x-ndjson", b'{"a":' * 10_000 + b"1" + b"}" * 10_000 + b"\n", [1]),
        # item 2: a JSON array whose bytes are not UTF-8 outside any string
        ("application/json", b'[\n{"PartNo": "P1"},\n\xff\n]', [2, 3]),
    ],
)
def test_unreadable_bodies_are_rejects_not_errors(
    api: TestClient, media: str, body: bytes, lines: list[int]
) -> None:
    """What cannot be read is rejected by line; the answer is still the job's result."""
    answer = api.post("/v1/feeds/sku_onhand", content=body, headers={"Content-Type": media})
    assert answer.status_code == 201, answer.text
    assert [r["line"] for r in answer.json()["rejects"]] == lines


def test_an_ndjson_body_with_a_byte_order_mark_keeps_its_first_record(api: TestClient) -> None:
    """Item 6 through the API: the first record goes in."""
    body = b"\xef\xbb\xbf" + feed([stock("G1"), stock("G2")], "ndjson").lstrip(b"\n")
    answer = api.post("/v1/feeds/sku_onhand", content=body)
    assert (answer.status_code, answer.json()["counts"]["inserted"]) == (201, 2)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"123456789012345678901234567890", WIDE),  # was a 500: orjson could not write it
        (b"NaN", NOT_FINITE),  # was read as null: "None is not of type 'number'"
        (b"-Infinity", NOT_FINITE),
    ],
)
def test_a_preview_pair_rejects_what_a_feed_rejects(
    api: TestClient, value: bytes, reason: str
) -> None:
    """POST /v1/preview/{kind}/pair gives the feed's rejection for the same value, not a 500."""
    after = b'{"PartNo": "P1", "WarehouseCode": "W", "WarehouseId": 1, "LocationCode": "A", '
    after += b'"LocationId": 1, "OnhandValue": ' + value + b"}"
    answer = api.post(
        "/v1/preview/sku_onhand/pair",
        content=b'{"after": ' + after + b"}",
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code == 200, answer.text
    rejects = answer.json()["rejects"]
    assert [(r["line"], r["field"], r["reason"]) for r in rejects] == [(1, "OnhandValue", reason)]


def test_a_preview_pair_with_a_before_that_a_feed_rejects_is_refused(api: TestClient) -> None:
    """An invalid 'before' was dropped without a word and the pair previewed as an insert: it
    is a 400 naming the field, as the 'after' would be rejected naming it."""
    row = {"PartNo": "P1", "WarehouseCode": "W", "WarehouseId": 1, "LocationCode": "A"}
    row |= {"LocationId": 1, "OnhandValue": 5}
    pair = {"before": row | {"OnhandValue": "five"}, "after": row}
    answer = api.post("/v1/preview/sku_onhand/pair", json=pair)
    assert answer.status_code == 400, answer.text
    assert answer.json()["message"] == (
        "the 'before' record is not a valid sku_onhand: OnhandValue: 'five' is not of type 'number'"
    )


def test_a_preview_pair_of_two_entities_is_refused(api: TestClient) -> None:
    """A 'before' with another key (a typo in it, say) stood for no change of the 'after': the
    pair was previewed as an insert without a word. It is a 400 naming both keys."""
    row = {"PartNo": "P1", "WarehouseCode": "W", "WarehouseId": 1, "LocationCode": "A"}
    row |= {"LocationId": 1, "OnhandValue": 5}
    pair = {"before": row | {"PartNo": "P2"}, "after": row | {"OnhandValue": 2}}
    answer = api.post("/v1/preview/sku_onhand/pair", json=pair)
    assert answer.status_code == 400, answer.text
    assert answer.json()["message"] == (
        "'before' and 'after' are two sku_onhand entities (keys 'P2|W|A' and 'P1|W|A'): "
        "a pair is one entity before and after its change"
    )
