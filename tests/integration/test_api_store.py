"""The API on both databases: paging through deliveries queued at one instant, concurrent
retries of one idempotent event, parameters no store can keep."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from deltahook.store.tables import notifications
from tests.api_support import STOCK, client, ndjson, stock_rows

BREAKPOINT = "SkuOnHandBreakPointNotification"
ORDER = {"OrderId": 7, "OrderNo": "A-7", "ClientOrderRef": "r-7", "Source": "web"}


def test_pages_of_deliveries_queued_in_one_transaction_hold_each_one_once(
    database_url: str,
) -> None:
    """One feed queues 30 deliveries with the same time; pages of 7 still see each once."""
    erp = {"name": "erp", "url": "https://erp.example/", "event_types": [BREAKPOINT]}
    with client(database_url, subscriptions=[erp]) as api:
        api.post("/v1/feeds/sku_onhand", content=ndjson(stock_rows(30)))
        crossed = api.post("/v1/feeds/sku_onhand", content=ndjson(stock_rows(30, onhand=1)))
        assert crossed.json()["counts"]["deliveries"] == 30
        seen: list[str] = []
        cursor = None
        while True:
            params = {"limit": 7, "type": BREAKPOINT} | ({"cursor": cursor} if cursor else {})
            page = api.get("/v1/deliveries", params=params).json()
            seen += [item["id"] for item in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert len(seen) == len(set(seen)) == 30
        job = api.get(crossed.headers["location"]).json()
        assert (job["status"], job["counts"]["updated"]) == ("succeeded", 30)


def test_concurrent_retries_with_one_idempotency_key_record_one_event(database_url: str) -> None:
    """Eight simultaneous POSTs with the same key: one stored event, every answer its id."""
    with client(database_url) as api:

        def post(_: int) -> tuple[int, str]:
            answer = api.post(
                "/v1/events/OrderConfirmedEvent",
                json=ORDER,
                headers={"Idempotency-Key": "order-7"},
            )
            return answer.status_code, answer.json()["id"]

        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(post, range(8)))
        assert sorted(status for status, _ in answers) == [200] * 7 + [201]
        assert len({ident for _, ident in answers}) == 1
        engine = api.app.state.engine  # type: ignore[attr-defined]
        with engine.db.connect() as conn:
            stored = conn.execute(
                select(func.count())
                .select_from(notifications)
                .where(notifications.c.idempotency_key == "order-7")
            ).scalar_one()
        assert stored == 1
        assert api.post("/v1/feeds/sku_onhand", content=ndjson([STOCK])).status_code == 201


@pytest.mark.parametrize(
    ("method", "path", "where"),
    [
        ("GET", "/v1/jobs/a%00b", ["path", "job_id"]),
        ("GET", "/v1/entities/sku_onhand/P1%00", ["path", "key"]),
        ("GET", "/v1/subscriptions/a%00b", ["path", "name"]),
        ("PATCH", "/v1/subscriptions/a%00b", ["path", "name"]),
        ("DELETE", "/v1/subscriptions/a%00b", ["path", "name"]),
        ("POST", "/v1/subscriptions/a%00b/test", ["path", "name"]),
        ("POST", "/v1/deliveries/a%00b/resend", ["path", "delivery_id"]),
        ("GET", "/v1/deliveries?subscription=a%00b", ["query", "subscription"]),
    ],
)
def test_a_parameter_with_a_nul_is_refused_as_invalid_naming_it(
    database_url: str, method: str, path: str, where: list[str]
) -> None:
    """A NUL in a path or query parameter is a 422 naming it on either database (PostgreSQL
    cannot compare text with a NUL: it was a 503 saying the database could not be used)."""
    with client(database_url) as api:
        answer = api.request(method, path, json={"enabled": False} if method == "PATCH" else None)
    assert answer.status_code == 422, answer.text
    (detail,) = answer.json()["details"]
    assert detail["loc"] == where
    assert detail["msg"] == "contains a NUL character (\\u0000), which cannot be stored"


def test_an_idempotency_key_with_a_nul_is_refused(database_url: str) -> None:
    """The key is stored and looked up as text: a NUL in it is an invalid event (422)."""
    with client(database_url) as api:
        answer = api.post(
            "/v1/events/OrderConfirmedEvent", json=ORDER, headers={"Idempotency-Key": "k\x00"}
        )
    assert answer.status_code == 422, answer.text
    assert "Idempotency-Key" in answer.json()["message"]
