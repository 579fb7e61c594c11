"""The API over a SQLite store it cannot write (opened read-only: the tests run as root, whom
file permissions do not stop): reads answer as ever, writes 503 with SQLite's reason."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from deltahook.api import create_app
from deltahook.delivery.receiver import Receiver
from deltahook.engine import Engine
from deltahook.store.tables import deliveries
from tests.api_support import AUTH, STOCK, ndjson, settings

UNWRITABLE = (
    "the database cannot be written (attempt to write a readonly database): open it read-write "
    "(not mode=ro or immutable) and make its file and folder writable"
)
SINCE = {"since": "2000-01-01T00:00:00Z"}
KEY = "40017-BLK|STHLM-DC|B2"


class Store:
    """A store with a config and an API subscription, a job, a notification and its
    deliveries (one failed), opened read-only."""

    def __init__(self, folder: Path, receiver_url: str) -> None:
        url = f"sqlite:///{folder / 'db.sqlite'}"
        self.subscriptions = [{"name": "shop", "url": receiver_url, "event_types": ["*"]}]
        engine = Engine.from_settings(settings(url, subscriptions=self.subscriptions))
        with TestClient(create_app(engine.settings, engine=engine), headers=AUTH) as client:
            client.post("/v1/feeds/sku_onhand", content=ndjson([STOCK]))
            done = client.post("/v1/feeds/sku_onhand", content=ndjson([STOCK | {"OnhandValue": 1}]))
            self.job = done.json()["job_id"]
            subscription = {"name": "erp", "url": "https://erp.example/", "event_types": ["*"]}
            client.post("/v1/subscriptions", json=subscription)
            self.delivery = client.get("/v1/deliveries").json()["items"][0]["id"]
        with engine.db.begin() as conn:  # one failed, for retry-failed to queue again
            conn.execute(
                update(deliveries).where(deliveries.c.id == self.delivery).values(status="dead")
            )
        engine.close()
        self.read_only = f"sqlite:///file:{folder / 'db.sqlite'}?mode=ro&uri=true"


@pytest.fixture
def client(tmp_path: Path, receiver: Receiver) -> Iterator[tuple[TestClient, Store]]:
    store = Store(tmp_path, receiver.url)
    engine = Engine.from_settings(settings(store.read_only, subscriptions=store.subscriptions))
    app = create_app(engine.settings, engine=engine)
    with TestClient(app, headers=AUTH, raise_server_exceptions=False) as test_client:
        yield test_client, store
    engine.close()


WRITES: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/v1/feeds/{kind}", {"content": ndjson([STOCK | {"OnhandValue": 50}])}),
    # a preview runs the ingest in a transaction it rolls back: it too needs to write
    ("POST", "/v1/preview/{kind}", {"content": ndjson([STOCK | {"OnhandValue": 50}])}),
    (
        "POST",
        "/v1/subscriptions",
        {"json": {"name": "new", "url": "https://new.example/", "event_types": ["*"]}},
    ),
    ("PATCH", "/v1/subscriptions/{name}", {"json": {"url": "https://erp2.example/"}}),
    ("DELETE", "/v1/subscriptions/{name}", {}),
    ("POST", "/v1/subscriptions/{name}/recover", {"json": SINCE}),
    ("POST", "/v1/deliveries/{delivery_id}/resend", {}),
    ("POST", "/v1/deliveries/retry-failed", {"json": SINCE}),
    ("POST", "/v1/events/{event_type}", {"json": {"ClientId": 1, "JobId": 5, "StatusId": 2}}),
]
# Requests a client makes with POST that write nothing to the store.
POSTED_READS: list[tuple[str, str, dict[str, Any]]] = [
    (
        "POST",
        "/v1/preview/{kind}/pair",
        {"json": {"before": STOCK, "after": STOCK | {"OnhandValue": 2}}},
    ),
    ("POST", "/v1/subscriptions/{name}/test", {}),
]
READS = [
    "/healthz",
    "/metrics",
    "/v1/subscriptions",
    "/v1/subscriptions/{name}",
    "/v1/deliveries",
    "/v1/jobs/{job_id}",
    "/v1/entities/{kind}/{key}",
    "/v1/event-types",
    "/v1/event-types/{name}/schema",
    "/v1/entity-kinds",
    "/v1/entity-kinds/{name}",
    "/v1/entity-kinds/{name}/schema",
]


def _filled(path: str, store: Store) -> str:
    """``path`` (as the OpenAPI document names it) with the store's ids in it."""
    name = "erp"  # a subscription's, but for an event type or an entity kind:
    if path.startswith("/v1/event-types/"):
        name = "JobCompletedEvent"
    elif path.startswith("/v1/entity-kinds/"):
        name = "sku_onhand"
    ids = {"kind": "sku_onhand", "key": KEY, "event_type": "JobCompletedEvent"}
    return path.format(**ids, name=name, job_id=store.job, delivery_id=store.delivery)


@pytest.mark.parametrize(("method", "path", "body"), WRITES, ids=[f"{m} {p}" for m, p, _ in WRITES])
def test_a_write_answers_503_with_sqlites_reason(
    client: tuple[TestClient, Store], method: str, path: str, body: dict[str, Any]
) -> None:
    """Every request that writes answers 503 "the database cannot be written", with SQLite's
    reason and what to do, as JSON (it said only "cannot be used right now")."""
    test_client, store = client
    answer = test_client.request(method, _filled(path, store), **body)
    assert (answer.status_code, answer.json()["error"]) == (503, "unavailable"), answer.text
    assert answer.json()["message"] == UNWRITABLE


@pytest.mark.parametrize(
    ("method", "path", "body"), POSTED_READS, ids=[f"{m} {p}" for m, p, _ in POSTED_READS]
)
def test_a_post_that_writes_nothing_still_works(
    client: tuple[TestClient, Store], method: str, path: str, body: dict[str, Any]
) -> None:
    """A preview of a before/after pair (a scratch store) and a test send write nothing to
    the store: they answer as on a writable one."""
    test_client, store = client
    answer = test_client.request(method, _filled(path, store), **body)
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize("path", READS)
def test_a_read_still_works(client: tuple[TestClient, Store], path: str) -> None:
    """Every GET answers 200 from the read-only store."""
    test_client, store = client
    answer = test_client.get(_filled(path, store))
    assert answer.status_code == 200, answer.text


def test_the_tables_hold_every_operation_of_the_api(client: tuple[TestClient, Store]) -> None:
    """Each operation the OpenAPI document lists is in WRITES, POSTED_READS or READS, so a new
    route is checked on a read-only store too."""
    test_client, _ = client
    listed = set()
    for path, operations in test_client.app.openapi()["paths"].items():  # type: ignore[attr-defined]
        # The document has one operation per event type, all of one route.
        route = "/v1/events/{event_type}" if path.startswith("/v1/events/") else path
        listed |= {(method.upper(), route) for method in operations}
    tables = {(m, p) for m, p, _ in WRITES + POSTED_READS} | {("GET", p) for p in READS}
    assert listed == tables
