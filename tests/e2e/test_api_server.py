"""The HTTP API over a real socket: uvicorn started here, httpx as the client."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from deltahook.api import create_app
from deltahook.delivery import heartbeat
from deltahook.delivery.attempts import RunStats
from deltahook.delivery.dispatcher import Dispatcher, DispatcherOptions
from deltahook.delivery.receiver import Receiver
from deltahook.engine import Engine
from deltahook.store.db import open_engine
from deltahook.store.tables import entities
from tests.api_support import AUTH, STOCK, ndjson, served, settings, stock_rows

BREAKPOINT = "SkuOnHandBreakPointNotification"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as server:
        yield server


class Server:
    """The API served on a free port, its engine, and a dispatcher to run once."""

    def __init__(self, database_url: str, receiver: Receiver, **values: Any) -> None:
        subscription = {"name": "erp", "url": receiver.url, "event_types": [BREAKPOINT]}
        self.engine = Engine.from_settings(
            settings(database_url, subscriptions=[subscription], **values)
        )
        self.app = create_app(self.engine.settings, engine=self.engine)
        self.database_url = database_url

    def deliver(self) -> RunStats:
        """The dispatcher's once-step: deliver what is due now, then return."""
        dispatcher = Dispatcher(
            self.engine.db, options=DispatcherOptions(worker_id="e2e", allow_private=True)
        )
        return asyncio.run(dispatcher.run(once=True))


@pytest.fixture
def server(database_url: str, receiver: Receiver) -> Iterator[tuple[Server, httpx.Client]]:
    api = Server(database_url, receiver, batch_size=100)
    with served(api.app) as base, httpx.Client(base_url=base, headers=AUTH) as http:
        yield api, http
    api.engine.close()


def test_a_breakpoint_crossed_by_a_posted_feed_is_delivered_found_and_resent(
    server: tuple[Server, httpx.Client], receiver: Receiver
) -> None:
    """POST stock, see the breakpoint delivered, find it in the log, resend: same message id."""
    api, http = server
    first = http.post("/v1/feeds/sku_onhand", content=ndjson([STOCK]))
    assert first.status_code == 201, first.text
    assert first.json()["counts"]["inserted"] == 1
    crossed = http.post(
        "/v1/feeds/sku_onhand?mode=upsert",
        content=ndjson([STOCK | {"OnhandValue": 20}]),
        headers={"Content-Type": "application/x-ndjson"},
    )
    assert crossed.status_code == 201, crossed.text
    result = crossed.json()
    # The breakpoint, and a SkuChangedNotification for the stock table nobody subscribed to.
    assert (result["counts"]["notifications"], result["counts"]["deliveries"]) == (2, 1)
    job = http.get(crossed.headers["Location"]).json()
    assert (job["status"], job["counts"]["updated"]) == ("succeeded", 1)

    assert api.deliver().delivered == 1
    [request] = receiver.wait_for(1)
    assert request.headers["norce-event-type"] == BREAKPOINT
    message_id = request.message_id
    assert message_id is not None

    page = http.get(
        "/v1/deliveries",
        params={"subscription": "erp", "type": BREAKPOINT, "payload": True, "attempts": True},
    ).json()
    [entry] = page["items"]
    assert (entry["message_id"], entry["status"]) == (message_id, "delivered")
    assert entry["payload"]["OnHandValue"] == 20
    assert [a["status_code"] for a in entry["attempt_log"]] == [200]

    resent = http.post(f"/v1/deliveries/{entry['id']}/resend")
    assert resent.json() == {"outcome": {entry["id"]: "queued"}}
    assert api.deliver().delivered == 1
    again = receiver.wait_for(2)[1]
    assert again.message_id == message_id
    assert again.body == request.body


def test_a_feed_is_streamed_into_the_pipeline_not_buffered(
    server: tuple[Server, httpx.Client], database_url: str
) -> None:
    """Batches are stored while the client is still sending the rest of the body."""
    _, http = server
    watcher = open_engine(database_url)
    stored_while_sending: list[int] = []

    def body() -> Iterator[bytes]:
        yield ndjson(stock_rows(300))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # the body is unfinished until the store shows work
            with watcher.connect() as conn:
                count = conn.execute(select(func.count()).select_from(entities)).scalar_one()
            if count >= 100:
                stored_while_sending.append(count)
                break
            time.sleep(0.02)
        yield ndjson(stock_rows(200, start=300))

    try:
        answer = http.post("/v1/feeds/sku_onhand", content=body(), timeout=30)
    finally:
        watcher.dispose()
    assert answer.status_code == 201, answer.text
    assert answer.json()["counts"]["inserted"] == 500
    assert stored_while_sending, "nothing was stored before the body was complete"
    assert stored_while_sending[0] < 500


def test_a_body_over_the_feed_limit_is_refused_and_a_full_feed_sweeps_nothing(
    database_url: str, receiver: Receiver
) -> None:
    """A chunked feed that grows past the limit fails its job: 413, nothing missing deleted."""
    api = Server(database_url, receiver, batch_size=50, api_max_feed_bytes=20_000)
    with served(api.app) as base, httpx.Client(base_url=base, headers=AUTH) as http:
        assert http.post("/v1/feeds/sku_onhand", content=ndjson(stock_rows(60))).status_code == 201

        def chunks() -> Iterator[bytes]:
            rows = stock_rows(200)
            for start in range(0, 200, 20):
                yield ndjson(rows[start : start + 20])

        answer = http.post("/v1/feeds/sku_onhand?mode=full", content=chunks())
        assert answer.status_code == 413
        assert answer.json()["error"] == "too_large"
        declared = http.post(
            "/v1/feeds/sku_onhand", content=b"x" * 20_001, headers={"Content-Length": "20001"}
        )
        assert declared.status_code == 413
    with api.engine.db.connect() as conn:
        assert conn.execute(select(func.count()).select_from(entities)).scalar_one() >= 60
    api.engine.close()


def test_a_feed_cut_by_the_limit_answers_its_job_and_what_it_applied(
    database_url: str, receiver: Receiver
) -> None:
    """413 mid-stream: the answer names the failed job and the batches applied before the cut."""
    api = Server(database_url, receiver, batch_size=20, api_max_feed_bytes=20_000)
    watcher = open_engine(database_url)

    def body() -> Iterator[bytes]:
        yield ndjson(stock_rows(50))  # 10.5 kB: two whole batches and half of a third
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # the rest waits until two batches are stored
            with watcher.connect() as conn:
                if conn.execute(select(func.count()).select_from(entities)).scalar_one() >= 40:
                    break
            time.sleep(0.02)
        yield ndjson(stock_rows(100, start=50))  # 21 kB more: over the limit

    with served(api.app) as base, httpx.Client(base_url=base, headers=AUTH) as http:
        answer = http.post("/v1/feeds/sku_onhand", content=body())
        job = http.get(answer.headers["Location"]).json()
    watcher.dispose()
    api.engine.close()
    assert (answer.status_code, answer.json()["error"]) == (413, "too_large")
    named = answer.json()["job"]
    assert (named["job_id"], named["status"], job["status"]) == (job["job_id"], "failed", "failed")
    assert named["counts"] == job["counts"]
    assert (named["counts"]["received"], named["counts"]["inserted"]) == (40, 40)
    assert named["counts"]["notifications"] > 0


def test_healthz_needs_no_key_and_everything_else_does(
    server: tuple[Server, httpx.Client],
) -> None:
    """/healthz answers anyone; /metrics and /openapi.json need the key."""
    _, http = server
    anonymous = httpx.Client(base_url=str(http.base_url))
    health = anonymous.get("/healthz").json()
    assert (health["status"], health["database"]) == ("ok", "reachable")
    for path in ("/metrics", "/openapi.json", "/v1/subscriptions"):
        answer = anonymous.get(path)
        assert answer.status_code == 401
        assert answer.headers["www-authenticate"] == "Bearer"
    anonymous.close()
    metrics = http.get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert "deltahook_delivery_attempt_duration_seconds_bucket" in metrics.text


def test_the_server_delivers_in_process_when_asked(database_url: str, receiver: Receiver) -> None:
    """With a dispatcher in the app (``deltahook serve`` by default), a posted breakpoint
    reaches the receiver with no separate ``deliver`` process; /healthz sees it running."""
    api = Server(database_url, receiver)
    app = create_app(
        api.engine.settings,
        engine=api.engine,
        deliver=DispatcherOptions(worker_id="in-process", allow_private=True),
    )
    with served(app) as base, httpx.Client(base_url=base, headers=AUTH) as http:
        assert http.get("/healthz").json()["dispatcher"]["running"] == 1
        http.post("/v1/feeds/sku_onhand", content=ndjson([STOCK]))
        http.post("/v1/feeds/sku_onhand", content=ndjson([STOCK | {"OnhandValue": 20}]))
        [request] = receiver.wait_for(1)
        assert request.headers["norce-event-type"] == BREAKPOINT
    with api.engine.db.connect() as conn:  # stopped with the server, cleanly
        assert heartbeat.liveness(conn, now=api.engine.clock()).alive == 0
    api.engine.close()
