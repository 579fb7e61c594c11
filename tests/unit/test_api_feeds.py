"""Feeds, jobs, previews, the catalog and custom events through the API (TestClient, SQLite)."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from deltahook.api.deps import REPEATED_PARAMETER
from deltahook.feeds import values
from tests.api_support import STOCK, client, ndjson, stock_rows
from tests.conftest import REPO

BREAKPOINT = "SkuOnHandBreakPointNotification"
KEY = ("PartNo", "WarehouseCode", "LocationCode")
ORDER = {"OrderId": 7, "OrderNo": "A-7", "ClientOrderRef": "r-7", "Source": "web"}


@pytest.fixture
def api(tmp_path: Path) -> Iterator[TestClient]:
    subscription = {"name": "erp", "url": "https://erp.example/hook", "event_types": [BREAKPOINT]}
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    with client(url, subscriptions=[subscription], allow_private_urls=False) as test_client:
        yield test_client


def test_an_ndjson_feed_answers_its_job_with_counts_and_rejects_by_line(api: TestClient) -> None:
    """Good records go through; bad ones are reported by line and reason; the job is stored."""
    body = ndjson(stock_rows(2)) + b"{not json\n" + orjson.dumps(STOCK | {"OnhandValue": "x"})
    answer = api.post("/v1/feeds/sku_onhand", content=body)
    assert answer.status_code == 201
    result = answer.json()
    assert result["status"] == "validation failed"
    assert (result["counts"]["inserted"], result["counts"]["rejected"]) == (2, 2)
    assert [(r["line"], r["field"]) for r in result["rejects"]] == [(3, None), (4, "OnhandValue")]
    job = api.get(answer.headers["location"]).json()
    assert (job["job_id"], job["status"]) == (result["job_id"], "validation failed")
    assert job["counts"]["rejected"] == 2
    assert [r["line"] for r in job["rejects"]] == [3, 4]


def test_a_job_with_rejects_has_one_status_and_one_reject_order_everywhere(
    api: TestClient,
) -> None:
    """The answer, the stored job and /metrics name one status; rejects come by line in each."""
    # Line 1 fails validation after line 2 fails to parse: found out of line order.
    body = orjson.dumps(STOCK | {"OnhandValue": "x"}) + b"\n{not json\n" + ndjson(stock_rows(1))
    counted = _jobs_counted(api)
    answer = api.post("/v1/feeds/sku_onhand", content=body).json()
    job = api.get(f"/v1/jobs/{answer['job_id']}").json()
    assert answer["status"] == job["status"] == "validation failed"
    assert [r["line"] for r in answer["rejects"]] == [r["line"] for r in job["rejects"]] == [1, 2]
    now = _jobs_counted(api)
    assert (
        now[("sku_onhand", "validation failed")]
        - counted.get(("sku_onhand", "validation failed"), 0)
        == 1
    )
    assert now.get(("sku_onhand", "succeeded"), 0) == counted.get(("sku_onhand", "succeeded"), 0)


def _jobs_counted(api: TestClient) -> dict[tuple[str, str], float]:
    """deltahook_ingest_jobs_total from /metrics, by (kind, status)."""
    return {
        (sample.labels["kind"], sample.labels["status"]): sample.value
        for family in text_string_to_metric_families(api.get("/metrics").text)
        for sample in family.samples
        if sample.name == "deltahook_ingest_jobs_total"
    }


def test_a_json_array_feed_and_the_modes(api: TestClient) -> None:
    """A JSON array by Content-Type; a full feed deactivates the stock rows it leaves out."""
    rows = stock_rows(3)
    first = api.post("/v1/feeds/sku_onhand", json=rows)
    assert first.json()["counts"]["inserted"] == 3
    full = api.post("/v1/feeds/sku_onhand?mode=full&max_remove=100%25", json=rows[:1])
    assert (full.json()["counts"]["unchanged"], full.json()["counts"]["updated"]) == (1, 2)
    merged = api.post(
        "/v1/feeds/sku_onhand?mode=merge&format=ndjson",
        content=ndjson([{k: rows[0][k] for k in KEY} | {"OnhandValue": 1}]),
        headers={"Content-Type": "text/plain"},
    )
    assert merged.json()["counts"]["updated"] == 1


def test_a_full_feed_with_an_unkeyed_reject_answers_that_it_swept_nothing(api: TestClient) -> None:
    """The answer and the stored job both say the sweep was skipped, and name the line."""
    api.post("/v1/feeds/sku_onhand", json=stock_rows(3))
    body = ndjson(stock_rows(1)) + b'{"PartNo": \n'
    answer = api.post("/v1/feeds/sku_onhand?mode=full", content=body).json()
    assert (answer["status"], answer["sweep"], answer["unkeyed_lines"]) == (
        "sweep skipped",
        "skipped",
        [2],
    )
    assert answer["counts"]["updated"] == 0
    job = api.get(f"/v1/jobs/{answer['job_id']}").json()
    assert (job["status"], [r["line"] for r in job["rejects"]]) == ("sweep skipped", [2])


def test_a_preview_says_a_full_feed_would_skip_its_sweep_or_be_refused(api: TestClient) -> None:
    """The preview names the unkeyed line; over the limit it answers 409 like the ingest."""
    rows = stock_rows(3)
    api.post("/v1/feeds/sku_onhand", json=rows)
    body = ndjson(rows[:2]) + b'{"PartNo": \n'
    preview = api.post("/v1/preview/sku_onhand?mode=full", content=body).json()
    assert (preview["sweep"], preview["unkeyed_lines"]) == ("skipped", [3])
    refused = api.post("/v1/preview/sku_onhand?mode=full", content=ndjson(rows[:1]))
    assert refused.status_code == 409
    allowed = api.post("/v1/preview/sku_onhand?mode=full&max_remove=2", content=ndjson(rows[:1]))
    assert allowed.json()["counts"]["updated"] == 2


def test_a_short_full_feed_is_refused_with_409_and_its_job_failed(api: TestClient) -> None:
    """Removing 2 of 3 rows is over the default 10%: 409, one message, nothing deactivated."""
    rows = stock_rows(3)
    api.post("/v1/feeds/sku_onhand", json=rows)
    answer = api.post("/v1/feeds/sku_onhand?mode=full", json=rows[:1])
    assert answer.status_code == 409
    message = answer.json()["message"]
    assert message.startswith("full feed refused: it would deactivate 2 of the 3 sku_onhand")
    job_id = message.split("(job ")[1].split(")")[0]
    assert api.get(f"/v1/jobs/{job_id}").json()["status"] == "failed"
    again = api.post("/v1/feeds/sku_onhand?mode=full&max_remove=2", json=rows[:1])
    assert again.json()["counts"]["updated"] == 2


@pytest.mark.parametrize(
    ("path", "headers", "status"),
    [
        ("/v1/feeds/no_such_kind", {}, 404),  # unknown kind
        ("/v1/feeds/sku_onhand?mode=sideways", {}, 422),  # unknown mode
        ("/v1/feeds/sku_onhand", {"Content-Type": "text/plain"}, 415),  # not a feed format
        ("/v1/feeds/sku_onhand", {"Content-Type": "text/csv; charset=latin-1"}, 415),
        (
            "/v1/feeds/sku_onhand?format=json",
            {"Content-Type": "application/json; charset=UTF-16"},
            415,
        ),
        ("/v1/preview/sku_onhand", {"Content-Type": 'application/x-ndjson; charset="cp1252"'}, 415),
        ("/v1/preview/no_such_kind", {}, 404),
    ],
)
def test_feeds_refuse_what_they_cannot_read(
    api: TestClient, path: str, headers: dict[str, str], status: int
) -> None:
    """A feed upload of an unknown kind or an unreadable format gets the 4xx its row names."""
    assert api.post(path, content=b"{}\n", headers=headers).status_code == status


@pytest.mark.parametrize("charset", ["utf-8", "UTF8", '"utf-8"', "us-ascii"])
def test_feeds_in_utf8_say_so_as_they_like(api: TestClient, charset: str) -> None:
    """A Content-Type naming UTF-8 (or ASCII), however spelt, is read as any feed."""
    headers = {"Content-Type": f"application/x-ndjson; charset={charset}"}
    answer = api.post("/v1/feeds/sku_onhand", content=ndjson([STOCK]), headers=headers)
    assert answer.status_code == 201, answer.text


@pytest.mark.parametrize(
    ("path", "coding"),
    [
        ("/v1/feeds/sku_onhand?mode=full", "gzip"),  # a compressed export
        ("/v1/preview/sku_onhand", "br, gzip"),  # one coding over another
    ],
)
def test_a_compressed_feed_is_refused_415_and_nothing_is_stored(
    api: TestClient, path: str, coding: str
) -> None:
    """Its bytes would be read as the feed: every line rejected as garbage, with a 201. A
    Content-Encoding other than identity is refused as a whole, with one message."""
    body = gzip.compress(ndjson([STOCK]))
    answer = api.post(path, content=body, headers={"Content-Encoding": coding})
    assert answer.status_code == 415, answer.text
    assert answer.json()["message"] == (
        f"feeds are read uncompressed: send the feed without Content-Encoding, not {coding!r}"
    )
    assert api.get("/v1/entities/sku_onhand/P1|STO|A-12").status_code == 404


@pytest.mark.parametrize("coding", ["identity", "Identity", ""])
def test_a_feed_whose_content_encoding_is_identity_is_read(api: TestClient, coding: str) -> None:
    """No coding at all, however spelt, is the feed's own bytes."""
    answer = api.post(
        "/v1/feeds/sku_onhand", content=ndjson([STOCK]), headers={"Content-Encoding": coding}
    )
    assert answer.status_code == 201, answer.text


def test_unknown_jobs_are_404(api: TestClient) -> None:
    """Asking for a job id that does not exist answers 404."""
    assert api.get("/v1/jobs/nope").status_code == 404


def test_preview_shows_the_breakpoint_and_writes_nothing(api: TestClient) -> None:
    """A feed preview and a before/after pair both explain the crossing; the store is unchanged."""
    api.post("/v1/feeds/sku_onhand", content=ndjson([STOCK]))
    crossing = ndjson([STOCK | {"OnhandValue": 20}])
    preview = api.post("/v1/preview/sku_onhand?explain=true", content=crossing).json()
    fired = [n for n in preview["notifications"] if n["type"] == BREAKPOINT]
    assert [n["payload"]["OnHandValue"] for n in fired] == [20]
    assert fired[0]["explanation"]
    again = api.post("/v1/preview/sku_onhand", content=crossing).json()
    assert again["counts"]["updated"] == 1  # the first preview stored nothing
    pair = api.post(
        "/v1/preview/sku_onhand/pair",
        json={"before": STOCK, "after": STOCK | {"OnhandValue": 25}},
    ).json()
    assert BREAKPOINT in {n["type"] for n in pair["notifications"]}
    new = api.post("/v1/preview/sku_onhand/pair", json={"after": STOCK}).json()
    assert BREAKPOINT not in {n["type"] for n in new["notifications"]}  # first sight: no fire


def test_a_pair_preview_counts_nothing_in_the_metrics(api: TestClient) -> None:
    """Loading ``before`` into the scratch database is no ingest: /metrics counts no job,
    entity or notification for a before/after preview."""
    counted = _counters(api)
    api.post(
        "/v1/preview/sku_onhand/pair",
        json={"before": STOCK, "after": STOCK | {"OnhandValue": 25}},
    )
    assert _counters(api) == counted


def test_the_catalog_lists_types_as_active_when_an_enabled_subscription_wants_them(
    api: TestClient,
) -> None:
    """Event types carry family, category and active; schemas come by name."""
    types = {t["name"]: t for t in api.get("/v1/event-types").json()}
    assert types[BREAKPOINT] | {"description": "", "settings": []} == {
        "name": BREAKPOINT,
        "family": "notification",
        "category": "Product",
        "description": "",
        "active": True,
        "subscriptions": ["erp"],
        "settings": [],
    }
    assert not types["SkuChangedNotification"]["active"]
    api.patch("/v1/subscriptions/erp", json={"enabled": False})
    assert not {t["name"]: t for t in api.get("/v1/event-types").json()}[BREAKPOINT]["active"]
    schema = api.get(f"/v1/event-types/{BREAKPOINT}/schema").json()
    assert "OnHandValue" in schema["properties"]
    assert "did you mean" in api.get("/v1/event-types/SkuChanged/schema").json()["message"]
    kinds = {k["name"]: k for k in api.get("/v1/entity-kinds").json()}
    assert kinds["sku"]["tables"][0] == "tClientProductSku"
    assert kinds["sku_price"]["parent"] == "sku"
    assert "properties" in kinds["sku"]["schema"]
    assert api.get("/v1/entity-kinds/sku_onhand/schema").json()["type"] == "object"
    assert api.get("/v1/entity-kinds/nope/schema").status_code == 404
    described = api.get("/v1/entity-kinds/category").json()
    assert [t["table"] for t in described["tables"]] == [
        "tCategory",
        "tCategoryCulture",
        "tCategorySalesArea",
    ]
    assert described["referenced_by"] == [{"kind": "sku", "field": "Categories.CategoryCode"}]
    assert api.get("/v1/entity-kinds/nope").status_code == 404


def test_custom_events_are_validated_recorded_and_queued(api: TestClient) -> None:
    """An event gets the project constants, an id and its deliveries; bad ones say why."""
    api.post(
        "/v1/subscriptions",
        json={
            "name": "orders",
            "url": "https://orders.example/",
            "event_types": ["OrderConfirmedEvent"],
        },
    )
    answer = api.post("/v1/events/OrderConfirmedEvent", json=ORDER)
    assert answer.status_code == 201
    event = answer.json()
    assert (event["payload"]["ClientId"], event["deliveries"], event["replayed"]) == (1, 1, False)
    invalid = api.post("/v1/events/OrderConfirmedEvent", json={"OrderId": "seven"})
    assert invalid.status_code == 422
    assert "OrderId" in invalid.json()["message"]
    details = invalid.json()["details"]
    assert len(details) > 1  # every schema problem, not only the first
    assert all(
        d["type"] == "event_schema" and d["msg"] in invalid.json()["message"] for d in details
    )
    assert api.post("/v1/events/NoSuchEvent", json={}).status_code == 404
    derived = api.post(f"/v1/events/{BREAKPOINT}", json={})
    assert (derived.status_code, "rules derive it" in derived.json()["message"]) == (422, True)


PAYMENT = b'"ClientOrderRef": "r-7", "ErpOrderNo": "E-7", "PaymentCode": "card"'


@pytest.mark.parametrize(
    ("event_type", "body", "field", "reason"),
    [
        (  # PostgreSQL text cannot hold a NUL
            "OrderConfirmedEvent",
            b'{"OrderId": 7, "OrderNo": "A\\u00007", "ClientOrderRef": "r", "Source": "web"}',
            "OrderNo",
            values.NUL,
        ),
        (  # a lone surrogate is what invalid UTF-8 reads as: no UTF-8 store holds it
            "OrderConfirmedEvent",
            b'{"OrderId": 7, "OrderNo": "A\\ud800", "ClientOrderRef": "r", "Source": "web"}',
            "OrderNo",
            values.NOT_UTF8,
        ),
        (  # JSON has no infinity: 1e400 would be stored as null
            "OrderPaymentReceivedEvent",
            b'{"Amount": 1e400, ' + PAYMENT + b"}",
            "Amount",
            values.NOT_FINITE,
        ),
        (
            "OrderPaymentReceivedEvent",
            b'{"Amount": NaN, ' + PAYMENT + b"}",
            "Amount",
            values.NOT_FINITE,
        ),
    ],
)
def test_an_event_with_a_value_no_store_can_keep_is_refused_naming_the_field(
    api: TestClient, event_type: str, body: bytes, field: str, reason: str
) -> None:
    """422 naming the field, as feeds reject the same values; nothing is recorded."""
    answer = api.post(
        f"/v1/events/{event_type}", content=body, headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["details"] == [
        {"loc": ["body"], "msg": f"{field}: {reason}", "type": "event_schema"}
    ]
    assert f"{field}: {reason}" in answer.json()["message"]


def test_an_idempotency_key_makes_a_retry_return_the_same_event(api: TestClient) -> None:
    """The retry answers 200 with the stored event; the key reused for another event: 409."""
    key = {"Idempotency-Key": "order-7-confirmed"}
    first = api.post("/v1/events/OrderConfirmedEvent", json=ORDER, headers=key)
    retry = api.post("/v1/events/OrderConfirmedEvent", json=ORDER, headers=key)
    assert (first.status_code, retry.status_code) == (201, 200)
    assert retry.headers["idempotent-replayed"] == "true"
    same = ("id", "type", "payload", "created_at", "idempotency_key")
    assert {k: retry.json()[k] for k in same} == {k: first.json()[k] for k in same}
    other = api.post("/v1/events/OrderConfirmedEvent", json=ORDER | {"OrderId": 8}, headers=key)
    assert other.status_code == 409
    other_type = api.post("/v1/events/OrderCancelledEvent", json=ORDER, headers=key)
    assert other_type.status_code == 409


def test_a_baseline_feed_stores_its_rows_queues_nothing_and_its_job_says_so(
    api: TestClient,
) -> None:
    """?baseline=true stores the rows, records no notification; answer and job say baseline."""
    answer = api.post("/v1/feeds/sku_onhand?baseline=true", content=ndjson(stock_rows(3)))
    assert answer.status_code == 201
    result = answer.json()
    assert (result["baseline"], result["counts"]["inserted"]) == (True, 3)
    assert result["counts"]["notifications"] == 0
    job = api.get(answer.headers["location"]).json()
    assert job["baseline"] is True
    normal = api.post("/v1/feeds/sku_onhand", content=ndjson(stock_rows(4))).json()
    assert normal["baseline"] is False


def test_an_entity_reads_back_as_stored_and_unknown_ones_are_404(api: TestClient) -> None:
    """GET /v1/entities/{kind}/{key} answers the stored snapshot; unknown kind or key: 404."""
    job = api.post("/v1/feeds/sku_onhand", content=ndjson(stock_rows(1))).json()
    (row,) = stock_rows(1)
    key = f"{row['PartNo']}|{row['WarehouseCode']}|{row['LocationCode']}"
    answer = api.get(f"/v1/entities/sku_onhand/{key}")
    assert answer.status_code == 200
    entity = answer.json()
    assert (entity["kind"], entity["key"], entity["version"]) == ("sku_onhand", key, 1)
    assert entity["snapshot"] == row
    assert entity["last_job"]["job_id"] == job["job_id"]
    (notified,) = entity["notifications"]
    assert (notified["type"], notified["job_id"]) == ("SkuChangedNotification", job["job_id"])
    assert notified["deliveries"] == []  # the subscription wants only breakpoints
    missing = api.get("/v1/entities/sku_onhand/nope|W|L")
    assert missing.status_code == 404
    assert missing.json()["message"] == "no sku_onhand entity with key 'nope|W|L'"
    one_part = api.get("/v1/entities/sku_onhand/nope").json()["message"]
    assert one_part.endswith(
        "a sku_onhand key is PartNo|WarehouseCode|LocationCode, and a '|' "
        "or '\\' within a part is written '\\|' or '\\\\'"
    )
    assert api.get(f"/v1/entities/skuu/{key}").status_code == 404


def test_a_csv_feed_goes_in_as_on_the_cli_and_a_nested_kind_is_refused(api: TestClient) -> None:
    """text/csv (or ?format=csv) reads a CSV feed by its header, cells by the schema's types;
    a kind with nested tables cannot be CSV: 400 naming why."""
    body = (REPO / "fixtures" / "v2" / "sku_onhand.csv").read_bytes()
    answer = api.post("/v1/feeds/sku_onhand", content=body, headers={"Content-Type": "text/csv"})
    assert answer.status_code == 201
    lines = len(body.splitlines()) - 1
    assert (answer.json()["counts"]["inserted"], answer.json()["rejects"]) == (lines, [])
    again = api.post("/v1/feeds/sku_onhand?format=csv", content=body).json()
    assert again["counts"]["unchanged"] == lines
    nested = api.post("/v1/feeds/sku?format=csv", content=b"PartNo\nP1\n")
    assert nested.status_code == 400
    assert "cannot be read from CSV" in nested.json()["message"]


@pytest.mark.parametrize(
    ("path", "repeated"),
    [
        ("/v1/feeds/sku_onhand", "mode=upsert&mode=full"),  # was run as full: the last one
        ("/v1/preview/sku_onhand", "mode=full&max_remove=1&max_remove=100%25"),
        ("/v1/feeds/sku_onhand", "format=csv&format=ndjson"),
    ],
)
def test_a_query_parameter_given_twice_is_refused_before_the_feed_is_read(
    api: TestClient, path: str, repeated: str
) -> None:
    """A parameter given twice is a 422 naming it, and no job runs: which value was meant is
    for the client to say (FastAPI took the last, so an upsert URL with ``&mode=full``
    appended swept the store)."""
    api.post("/v1/feeds/sku_onhand", content=ndjson(stock_rows(2)))
    answer = api.post(f"{path}?{repeated}", content=ndjson(stock_rows(1)))
    assert answer.status_code == 422, answer.text
    [detail] = answer.json()["details"]
    assert detail["loc"][0] == "query"
    assert detail["msg"] == REPEATED_PARAMETER
    assert api.get("/v1/entities/sku_onhand/P-000001|STHLM-DC|B2").status_code == 200


def _counters(api: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every deltahook_*_total sample of /metrics, by name and labels."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(api.get("/metrics").text)
        for sample in family.samples
        if sample.name.startswith("deltahook_") and sample.name.endswith("_total")
    }
