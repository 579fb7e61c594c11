"""The sender's asyncio network streams (``delivery/stream.py``): TLS, timeouts, held writes,
flow control both ways, and servers that drop idle connections."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpcore
import pytest

from deltahook.delivery.pool import pooled_transport
from deltahook.delivery.sender import Sender
from deltahook.delivery.stream import AsyncioBackend, Stream, _Protocol
from tests.raw_server import RawServer

TLS = Path(__file__).resolve().parent / "tls"
"""A self-signed certificate for localhost and 127.0.0.1 (valid until 2126) and its key."""


class _Ok(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    ports: list[int]  # set per server

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.ports.append(self.client_address[1])
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def tls_server() -> Iterator[tuple[str, list[int]]]:
    ports: list[int] = []
    handler = type("Handler", (_Ok,), {"ports": ports})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(TLS / "cert.pem", TLS / "key.pem")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}).start()
    yield f"https://127.0.0.1:{server.server_address[1]}/hook", ports
    server.shutdown()
    server.server_close()


def _trusting() -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(TLS / "cert.pem"))


async def _post(sender: Sender, url: str, body: bytes = b"{}") -> tuple[int | None, str | None]:
    outcome = await sender.send(url=url, body=body, headers={}, timeout=5)
    return outcome.result.status_code, outcome.result.error


def test_https_goes_over_tls_and_keeps_the_connection_alive(
    tls_server: tuple[str, list[int]],
) -> None:
    """Two requests to an https receiver whose certificate is trusted: both answered 200,
    over one kept-alive TLS connection."""
    url, ports = tls_server

    async def go() -> list[tuple[int | None, str | None]]:
        transport = pooled_transport(verify=_trusting(), allowed=None)
        async with Sender(transport=transport) as sender:
            return [await _post(sender, url) for _ in range(2)]

    assert asyncio.run(go()) == [(200, None), (200, None)]
    assert len(set(ports)) == 1


def test_an_untrusted_certificate_fails_the_attempt_as_a_connection_failure(
    tls_server: tuple[str, list[int]],
) -> None:
    """A self-signed certificate the sender does not trust: no request is made, and the
    attempt fails as a connection failure saying why."""
    url, ports = tls_server

    async def go() -> tuple[int | None, str | None]:
        async with Sender(transport=pooled_transport(allowed=None)) as sender:
            return await _post(sender, url)

    status, error = asyncio.run(go())
    assert status is None
    assert error is not None
    assert error.startswith("connection failed")
    assert "CERTIFICATE_VERIFY_FAILED" in error
    assert ports == []


class _Recording(asyncio.Transport):
    """A transport that keeps what is written to it."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return False


def test_a_request_head_and_body_go_out_in_one_write() -> None:
    """What is written before the stream is read goes to the socket in one write, when the
    response is read."""

    async def go() -> list[bytes]:
        protocol = _Protocol()
        transport = _Recording()
        stream = Stream(transport, protocol)
        await stream.write(b"POST / HTTP/1.1\r\n\r\n")
        await stream.write(b"{}")
        assert transport.writes == []
        protocol.data_received(b"HTTP/1.1 200 OK\r\n")
        assert await stream.read(100) == b"HTTP/1.1 200 OK\r\n"
        return transport.writes

    assert asyncio.run(go()) == [b"POST / HTTP/1.1\r\n\r\n{}"]


@pytest.fixture
def silent() -> Iterator[tuple[int, socket.socket]]:
    """A server that accepts connections and never says anything."""
    server = socket.create_server(("127.0.0.1", 0))
    yield server.getsockname()[1], server
    server.close()


def test_a_read_with_nothing_arriving_times_out(silent: tuple[int, socket.socket]) -> None:
    """A read given a timeout raises httpcore's ReadTimeout when nothing arrives in time, and
    the stream closes cleanly afterwards."""
    port, _ = silent

    async def go() -> None:
        stream = await AsyncioBackend().connect_tcp("127.0.0.1", port, timeout=5)
        with pytest.raises(httpcore.ReadTimeout):
            await stream.read(100, timeout=0.05)
        await stream.aclose()

    asyncio.run(go())


def test_a_refused_connection_is_httpcores_connect_error() -> None:
    """Connecting where nothing listens raises httpcore's ConnectError with the reason."""
    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]

    async def go() -> None:
        with pytest.raises(httpcore.ConnectError, match=r"refused|failed"):
            await AsyncioBackend().connect_tcp("127.0.0.1", port, timeout=5)

    asyncio.run(go())


def test_a_socket_option_the_system_refuses_closes_the_connection(
    silent: tuple[int, socket.socket],
) -> None:
    """A socket option the system refuses raises httpcore's ConnectError with the reason, and
    the connection already made is closed, not left open."""
    port, server = silent
    server.settimeout(10)

    async def go() -> bytes:
        with pytest.raises(httpcore.ConnectError, match="not available"):
            await AsyncioBackend().connect_tcp(
                "127.0.0.1", port, timeout=5, socket_options=[(socket.SOL_SOCKET, 9999, 1)]
            )
        conn, _ = server.accept()
        with conn:
            conn.settimeout(10)
            return await asyncio.to_thread(conn.recv, 100)  # b"": the client closed it

    assert asyncio.run(go()) == b""


def test_a_stream_cancelled_while_closing_is_still_closed(
    silent: tuple[int, socket.socket],
) -> None:
    """Closing a stream whose writes are still queued (the peer does not read), when the
    closing task is cancelled halfway, still drops the connection rather than leaving it open."""
    port, _ = silent

    async def go() -> bool:
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.create_connection(_Protocol, "127.0.0.1", port)
        transport.write(b"x" * (16 * 1024 * 1024))  # more than the socket buffers hold
        closing = asyncio.create_task(Stream(transport, protocol).aclose())
        await asyncio.sleep(0)  # aclose starts and yields once
        closing.cancel()
        with pytest.raises(asyncio.CancelledError):
            await closing
        await asyncio.sleep(0)  # the loop runs the transport's connection_lost
        return protocol.closed

    assert asyncio.run(go())


class _Dropping(RawServer):
    """A raw HTTP/1.1 server that answers one request per connection, keeps it (no
    ``Connection: close``), then closes it once ``drop`` is set: a keep-alive timeout."""

    def __init__(self) -> None:
        self.drop = threading.Event()
        self.dropped = threading.Event()
        super().__init__()

    def handle(self, conn: socket.socket, number: int) -> None:
        with conn:
            data = b""
            while not data.endswith(b"{}"):
                data += conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            self.drop.wait(10)
        self.dropped.set()


def test_an_idle_connection_the_server_dropped_is_not_reused() -> None:
    """A kept-alive connection the server closed while it sat idle is seen to be closed: the
    next request goes over a new one and succeeds."""
    server = _Dropping()

    async def go() -> list[tuple[int | None, str | None]]:
        async with Sender(allow_private=True) as sender:
            first = await _post(sender, server.url)
            server.drop.set()
            await asyncio.to_thread(server.dropped.wait, 10)
            await asyncio.sleep(0.05)  # the loop reads the end of the stream
            return [first, await _post(sender, server.url)]

    assert asyncio.run(go()) == [(200, None), (200, None)]
    assert server.connections == 2


def test_a_large_response_is_read_whole() -> None:
    """A response far larger than the read buffer's limit arrives whole and in order (reading
    pauses while the buffer is full and resumes as it is read)."""
    payload = bytes(range(256)) * 8192  # 2 MiB
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            conn.sendall(payload)

    threading.Thread(target=serve, daemon=True).start()

    async def go() -> bytes:
        stream = await AsyncioBackend().connect_tcp("127.0.0.1", server.getsockname()[1])
        await asyncio.sleep(0.1)  # let the buffer fill past its limit
        chunks = []
        while chunk := await stream.read(65536, timeout=5):
            chunks.append(chunk)
        await stream.aclose()
        return b"".join(chunks)

    try:
        assert asyncio.run(go()) == payload
    finally:
        server.close()


def _slow_reader(server: socket.socket, got: list[bytes]) -> None:
    """Accept one connection, wait before reading (the sender's writes back up), then read one
    request whole and answer 200."""
    conn, _ = server.accept()
    with conn:
        time.sleep(0.2)
        data = b""
        while b"\r\n\r\n" not in data:
            data += conn.recv(65536)
        head, body = data.split(b"\r\n\r\n", 1)
        length = next(
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        while len(body) < length:
            body += conn.recv(1 << 20)
        got.append(body)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")


def test_a_large_request_body_to_a_slow_reader_arrives_whole() -> None:
    """A request body far larger than what is held back before writing, to a receiver slow to
    read it (the sender waits for the socket to drain), arrives whole."""
    body = b'{"x": "' + b"a" * (16 * 1024 * 1024) + b'"}'
    got: list[bytes] = []
    server = socket.create_server(("127.0.0.1", 0))
    threading.Thread(target=_slow_reader, args=(server, got), daemon=True).start()

    async def go(url: str) -> tuple[int | None, str | None]:
        async with Sender(allow_private=True) as sender:
            return await _post(sender, url, body)

    try:
        assert asyncio.run(go(f"http://127.0.0.1:{server.getsockname()[1]}/")) == (200, None)
    finally:
        server.close()
    assert got == [body]
