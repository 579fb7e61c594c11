"""Slow and stalled uploads over a real socket: they are bounded, and the API keeps answering."""

from __future__ import annotations

import io
import socket
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import func, select

from deltahook.api import create_app
from deltahook.engine import Engine
from deltahook.store.tables import ingest_jobs
from tests.api_support import AUTH, KEY, ndjson, served, settings, stock_rows
from tests.scale_support import wait_until

STALLED = 32
# Seconds a body may go without bringing its minimum bytes: small, so the stalls end soon.
WINDOW_S = 1.0
BATCH = 10


def stalled_upload(base: str, *, records: int = 1) -> socket.socket:
    """A feed upload that declares 1 MB, sends ``records`` records and then nothing more."""
    host, port = base.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=60)
    head = (
        "POST /v1/feeds/sku_onhand HTTP/1.1\r\n"
        f"Host: {host}\r\nAuthorization: Bearer {KEY}\r\n"
        "Content-Type: application/x-ndjson\r\nContent-Length: 1000000\r\n\r\n"
    )
    sock.sendall(head.encode() + ndjson(stock_rows(records)))
    return sock


def answer_of(sock: socket.socket) -> tuple[int, dict[str, str], dict[str, object]]:
    """The status, headers and JSON body the server sent back on ``sock``."""
    data = b""
    while b"\r\n\r\n" not in data or not _complete(data):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
    return int(status_line.split()[1]), headers, orjson.loads(body)


def _complete(data: bytes) -> bool:
    head, _, body = data.partition(b"\r\n\r\n")
    for line in head.decode().split("\r\n"):
        if line.lower().startswith("content-length:"):
            return len(body) >= int(line.split(":", 1)[1])
    return False


@pytest.fixture
def api(database_url: str) -> Iterator[tuple[Engine, str]]:
    engine = Engine.from_settings(
        settings(database_url, api_body_window_s=WINDOW_S, api_max_uploads=4, batch_size=BATCH)
    )
    with served(create_app(engine.settings, engine=engine)) as base:
        yield engine, base
    engine.close()


def test_stalled_uploads_are_bounded_and_every_other_route_still_answers(
    api: tuple[Engine, str],
) -> None:
    """32 stalled uploads: /healthz, jobs and subscriptions answer; each stall ends 408 or 503."""
    engine, base = api
    with ExitStack() as stack, httpx.Client(base_url=base, headers=AUTH, timeout=20) as http:
        stalled = [stack.enter_context(stalled_upload(base)) for _ in range(STALLED)]
        health = http.get("/healthz").json()
        assert (health["status"], health["database"]) == ("ok", "reachable")
        assert http.get("/v1/subscriptions").status_code == 200
        assert http.get("/v1/jobs/no-such-job").status_code == 404
        assert http.get("/metrics").status_code == 200
        answers = [answer_of(sock) for sock in stalled]
    statuses = sorted(status for status, _, _ in answers)
    assert set(statuses) <= {408, 503}, statuses
    assert 408 in statuses
    for status, headers, body in answers:
        if status == 503:
            assert int(headers["retry-after"]) > 0
            assert body["error"] == "unavailable"
            assert "uploads" in str(body["message"])
        else:
            assert body["error"] == "request_timeout"
            assert body["job"]["status"] == "failed"  # the upload had begun: its job is named
    with engine.db.connect() as conn:
        statuses_of_jobs = set(conn.execute(select(ingest_jobs.c.status)).scalars())
    assert statuses_of_jobs == {"failed"}  # each upload that began is over, none left running
    assert http_ok(base)


def http_ok(base: str) -> bool:
    """The API answers a good feed once the stalls are over."""
    with httpx.Client(base_url=base, headers=AUTH, timeout=20) as http:
        answer = http.post("/v1/feeds/sku_onhand", content=ndjson(stock_rows(3)))
    return answer.status_code == 201


def test_an_upload_that_never_sends_a_byte_takes_no_job_and_no_connection(
    api: tuple[Engine, str],
) -> None:
    """Headers and then silence: 408, and no job was started (no connection was taken)."""
    engine, base = api
    with stalled_upload(base, records=0) as sock:
        status, _, body = answer_of(sock)
    assert (status, body["error"]) == (408, "request_timeout")
    with engine.db.connect() as conn:
        assert conn.execute(select(func.count()).select_from(ingest_jobs)).scalar_one() == 0


def test_an_upload_stalled_mid_body_holds_no_database_connection(
    api: tuple[Engine, str],
) -> None:
    """A batch applied, then silence: while it waits for bytes the upload holds no connection."""
    engine, base = api

    def first_batch_applied() -> bool:
        with engine.db.connect() as conn:
            inserted = conn.execute(select(ingest_jobs.c.inserted)).scalar_one_or_none()
        return inserted == BATCH

    with stalled_upload(base, records=BATCH + 5) as sock:
        wait_until(first_batch_applied, timeout=30, what="the first batch applied")
        # The batch's connection goes back to the pool a moment after its commit is visible:
        # it must be back while the job still runs (an upload holding it lets go only as its
        # job fails, 408, after the window).
        pool = engine.db.pool
        wait_until(lambda: pool.checkedout() == 0, timeout=30, what="no connection held")
        with engine.db.connect() as conn:
            while_stalled = conn.execute(select(ingest_jobs.c.status)).scalar_one()
        status, _, body = answer_of(sock)
    assert while_stalled == "running"
    assert (status, body["job"]["counts"]["inserted"]) == (408, BATCH)


@pytest.fixture
def patient_api(database_url: str) -> Iterator[tuple[Engine, str]]:
    """The API with a body window long enough that a stall outlasts the test's look at it."""
    engine = Engine.from_settings(settings(database_url, api_body_window_s=60, batch_size=BATCH))
    with served(create_app(engine.settings, engine=engine)) as base:
        yield engine, base
    engine.close()


def test_an_upload_stalled_mid_body_has_what_it_sent_stored_while_it_waits(
    patient_api: tuple[Engine, str],
) -> None:
    """Two read batches with a change each, then silence: those changes (too few to fill a
    write batch) are committed while the upload waits, its job still running."""
    engine, base = patient_api
    engine.ingest("sku_onhand", io.BytesIO(ndjson(stock_rows(2 * BATCH))), fmt="ndjson")
    rows = stock_rows(2 * BATCH)
    rows[3]["OnhandValue"] = rows[BATCH + 3]["OnhandValue"] = 7

    def stored(row: dict[str, Any]) -> Any:
        entity = engine.snapshot("sku_onhand", f"{row['PartNo']}|STHLM-DC|B2")
        return None if entity is None else entity.body["OnhandValue"]

    def statuses() -> list[str]:
        with engine.db.connect() as conn:
            return list(conn.execute(select(ingest_jobs.c.status)).scalars())

    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=60) as sock:
        head = (
            "POST /v1/feeds/sku_onhand HTTP/1.1\r\n"
            f"Host: {host}\r\nAuthorization: Bearer {KEY}\r\n"
            "Content-Type: application/x-ndjson\r\nContent-Length: 1000000\r\n\r\n"
        )
        sock.sendall(head.encode() + ndjson(rows))
        wait_until(
            lambda: stored(rows[3]) == stored(rows[BATCH + 3]) == 7,
            timeout=30,
            what="the changes sent stored",
        )
        assert sorted(statuses()) == ["running", "succeeded"]
    wait_until(lambda: "running" not in statuses(), timeout=30, what="the upload's job ended")
