"""The sender's HTTP/1.1 connections (``delivery/http11.py``) against a raw server that answers
with exactly the bytes a test gives: informational responses, chunked and close-delimited
bodies, a server that hangs up, kept-alive connections that expire."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import pytest

from deltahook.delivery.pool import pooled_transport
from deltahook.delivery.sender import Outcome, Sender
from tests.raw_server import RawServer, read_request


class Scripted(RawServer):
    """Reads one request at a time (head and ``Content-Length`` body) and answers it with the
    next of ``answers``; ``None`` as an answer hangs up instead. ``close`` hangs up after
    every answer."""

    path = "/hook"

    def __init__(self, answers: list[bytes | None], *, close: bool = False) -> None:
        self.answers = list(answers)
        self.hang_up = close
        self.requests = 0
        super().__init__()

    def handle(self, conn: socket.socket, number: int) -> None:
        buffer = b""
        with conn:
            while self.answers:
                read = read_request(conn, buffer)
                if read is None:
                    return
                buffer = read[1]
                self.requests += 1
                answer = self.answers.pop(0)
                if answer is None:
                    return
                conn.sendall(answer)
                if self.hang_up:
                    return


@pytest.fixture
def scripted() -> Iterator[list[Scripted]]:
    servers: list[Scripted] = []
    yield servers
    for server in servers:
        server.close()


def _serve(servers: list[Scripted], answers: list[bytes | None], **options: bool) -> Scripted:
    server = Scripted(answers, **options)
    servers.append(server)
    return server


async def _post(sender: Sender, url: str) -> Outcome:
    return await sender.send(url=url, body=b"{}", headers={}, timeout=5)


def _run(url: str, count: int = 1, *, keepalive: float | None = None) -> list[Outcome]:
    async def go() -> list[Outcome]:
        transport = pooled_transport(allowed=None)
        if keepalive is not None:
            transport._pool._keepalive_expiry = keepalive  # type: ignore[attr-defined]
        async with Sender(transport=transport) as sender:
            outcomes = []
            for _ in range(count):
                outcomes.append(await _post(sender, url))
                await asyncio.sleep(0.01)
            return outcomes

    return asyncio.run(go())


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def test_an_informational_response_before_the_answer_is_skipped(
    scripted: list[Scripted],
) -> None:
    """A '100 Continue' (or any 1xx) before the real response: the attempt reads the 200 after
    it, and the connection is kept for the next request."""
    server = _serve(scripted, [b"HTTP/1.1 100 Continue\r\n\r\n" + OK, OK])
    outcomes = _run(server.url, 2)
    assert [(o.result.status_code, o.excerpt) for o in outcomes] == [(200, "ok"), (200, "ok")]
    assert server.connections == 1


def test_a_chunked_answer_is_read_and_the_connection_kept(scripted: list[Scripted]) -> None:
    """A chunked response body is read whole into the excerpt; the connection is reused."""
    chunked = (
        b"HTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n1\r\n!\r\n0\r\n\r\n"
    )
    server = _serve(scripted, [chunked, chunked])
    outcomes = _run(server.url, 2)
    assert [(o.result.status_code, o.excerpt) for o in outcomes] == [(202, "ok!"), (202, "ok!")]
    assert server.connections == 1


def test_a_body_ended_by_closing_the_connection_is_read_and_not_reused(
    scripted: list[Scripted],
) -> None:
    """An answer with neither length nor chunks ends when the server closes: its body is
    read whole, and the next request goes over a new connection."""
    server = _serve(scripted, [b"HTTP/1.1 200 OK\r\n\r\nall of it", OK], close=True)
    outcomes = _run(server.url, 2)
    assert [(o.result.status_code, o.excerpt) for o in outcomes] == [
        (200, "all of it"),
        (200, "ok"),
    ]
    assert server.connections == 2


def test_a_server_that_hangs_up_without_answering_fails_the_attempt(
    scripted: list[Scripted],
) -> None:
    """A server that reads the request and closes without a word: the attempt fails saying so
    (httpx's RemoteProtocolError), with no status code."""
    server = _serve(scripted, [None])
    (outcome,) = _run(server.url)
    assert outcome.result.status_code is None
    assert outcome.result.error == (
        "RemoteProtocolError: Server disconnected without sending a response."
    )


def test_a_garbled_answer_fails_the_attempt_as_a_protocol_error(
    scripted: list[Scripted],
) -> None:
    """Bytes that are not an HTTP response: the attempt fails as a protocol error."""
    server = _serve(scripted, [b"SMTP ready\r\n\r\n"])
    (outcome,) = _run(server.url)
    assert outcome.result.status_code is None
    assert outcome.result.error is not None
    assert outcome.result.error.startswith("RemoteProtocolError: ")


def test_a_kept_alive_connection_past_its_expiry_is_not_reused(
    scripted: list[Scripted],
) -> None:
    """With a keep-alive expiry of zero, an idle connection has expired by the next request,
    which goes over a new connection."""
    server = _serve(scripted, [OK, OK])
    outcomes = _run(server.url, 2, keepalive=0.0)
    assert [o.result.status_code for o in outcomes] == [200, 200]
    assert server.connections == 2
