"""Helpers for the HTTP API tests: settings with a key, a client, a server on a real socket."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from deltahook.api import create_app
from deltahook.api.server import uvicorn_options
from deltahook.config import Settings
from deltahook.engine import Engine

KEY = "test-key-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {KEY}"}

# One stock row; the rules fire SkuOnHandBreakPointNotification when OnhandValue drops from
# above MinimumValue (25) to at or below it.
STOCK = {
    "PartNo": "40017-BLK",
    "WarehouseCode": "STHLM-DC",
    "WarehouseId": 1,
    "LocationCode": "B2",
    "LocationId": 12,
    "OnhandValue": 33,
    "IncomingValue": 0,
    "LeadTimeDayCount": 17,
    "MinimumValue": 25,
    "MaximumValue": 100,
    "IsActive": True,
}


def settings(url: str, **values: Any) -> Settings:
    values.setdefault("api_keys", [KEY])
    values.setdefault("allow_private_urls", True)  # the tests' receivers listen on loopback
    return Settings(database_url=url, **values)


def stock_rows(count: int, *, onhand: int = 33, start: int = 0) -> list[dict[str, Any]]:
    """``count`` stock rows of different SKUs at one location."""
    return [
        STOCK | {"PartNo": f"P-{number:06d}", "OnhandValue": onhand}
        for number in range(start, start + count)
    ]


def ndjson(rows: list[dict[str, Any]]) -> bytes:
    return b"".join(orjson.dumps(row) + b"\n" for row in rows)


@contextmanager
def client(url: str, **values: Any) -> Iterator[TestClient]:
    """A TestClient on an app over a fresh engine, authenticated unless the test says not."""
    engine = Engine.from_settings(settings(url, **values))
    app = create_app(engine.settings, engine=engine)
    try:
        with TestClient(app, headers=AUTH) as test_client:
            yield test_client
    finally:
        engine.close()


@contextmanager
def served(app: FastAPI) -> Iterator[str]:
    """``app`` on uvicorn in a thread, on a free loopback port, with the guards ``deltahook
    serve`` gives it; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            lifespan="on",
            **uvicorn_options(app.state.engine.settings),
        )
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
