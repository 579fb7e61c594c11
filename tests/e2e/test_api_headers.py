"""Hostile header blocks over a real socket: too large is 431, too slow is 408, both read by
the client (no reset), and the server goes on answering."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from deltahook.api import create_app
from deltahook.engine import Engine
from tests.api_support import served, settings
from tests.scale_support import wait_until

# Seconds a request's headers may take: small, so the stalls in these tests end soon.
HEADER_TIMEOUT_S = 0.5
MAX_HEADER_BYTES = 16 << 10


@pytest.fixture
def base(tmp_path: Path) -> Iterator[str]:
    engine = Engine.from_settings(
        settings(
            f"sqlite:///{tmp_path}/db.sqlite",
            api_header_timeout_s=HEADER_TIMEOUT_S,
            api_max_header_bytes=MAX_HEADER_BYTES,
        )
    )
    with served(create_app(engine.settings, engine=engine)) as url:
        yield url
    engine.close()


def connect(base: str) -> socket.socket:
    port = int(base.rsplit(":", 1)[1])
    return socket.create_connection(("127.0.0.1", port), timeout=30)


def read_all(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def answer(data: bytes) -> tuple[int, dict[str, object]]:
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), orjson.loads(body)


def still_answers(base: str) -> bool:
    return httpx.get(f"{base}/healthz", timeout=30).status_code == 200


def test_a_header_block_over_the_limit_is_answered_431_not_reset(base: str) -> None:
    """200 KB of headers: the whole block is sent, then a 431 JSON error is read back."""
    with connect(base) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n")
        status, body = answer(read_all(sock))
    assert status == 431
    assert body["error"] == "headers_too_large"
    assert f"{MAX_HEADER_BYTES:,} bytes" in str(body["message"])
    assert still_answers(base)


def test_headers_that_stall_are_answered_408_and_the_connection_ends(base: str) -> None:
    """A client that stops in the middle of its headers does not hold its connection: 408."""
    with connect(base) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        assert still_answers(base)  # meanwhile, others are served
        status, body = answer(read_all(sock))
    assert status == 408
    assert body["error"] == "request_timeout"
    assert f"{HEADER_TIMEOUT_S:g} s" in str(body["message"])


def test_the_next_request_on_a_kept_connection_has_its_own_deadline(base: str) -> None:
    """A first request is answered; the second's headers stall: 408, then the end."""
    with connect(base) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHo")
        data = read_all(sock)
    first, _, rest = data.partition(b"HTTP/1.1 408")
    assert first.startswith(b"HTTP/1.1 200")
    assert rest, "no 408 after the first answer"


def test_a_connection_that_sends_nothing_ends_without_an_answer(base: str) -> None:
    """Not a byte of a request: the connection is closed quietly, no 408 is made up."""
    with connect(base) as sock:
        assert read_all(sock) == b""


def test_deltahook_serve_runs_with_the_guards(tmp_path: Path) -> None:
    """The real command: an oversized header block gets its 431 there too."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "deltahook", "--database-url", f"sqlite:///{tmp_path}/s.db"]
    env = os.environ | {"DELTAHOOK_API_KEYS": "a-long-enough-test-key-0123456789"}
    server = subprocess.Popen(
        [*command, "serve", "--port", str(port), "--no-deliver", "--log-level", "warning"],
        env=env,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: _up(base), timeout=60, what="deltahook serve to answer")
        with connect(base) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200_000)
            status, _body = answer(read_all(sock))
        assert status == 431
    finally:
        server.terminate()
        server.wait(30)


def _up(base: str) -> bool:
    try:
        return still_answers(base)
    except httpx.TransportError:
        return False
