"""The API on both databases: paging through deliveries queued at one instant, and concurrent
retries of one idempotent event."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

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
