"""The sender over its own pool hands httpcore requests to the pool itself and reads plain
answers straight from the connection (``sender.py``): it must put the same bytes on the wire
and report the same outcome as the same sender going through httpx's transport."""

from __future__ import annotations

import asyncio
import gzip
import socket
from collections.abc import Callable, Iterator, Mapping

import httpx
import pytest

from deltahook.delivery.pool import pooled_transport, stack_pool
from deltahook.delivery.retry import AttemptResult
from deltahook.delivery.sender import Sender
from tests.raw_server import RawServer, read_request

Answer = Callable[[bytes], bytes | None]
"""The raw answer to a request's raw bytes (head and body), or ``None`` to hang up."""


class Recording(RawServer):
    """Reads one request at a time (head and ``Content-Length`` body), keeps its bytes and
    answers what ``answer`` says."""

    path = "/hook"

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.requests: list[bytes] = []
        super().__init__()

    def handle(self, conn: socket.socket, number: int) -> None:
        buffer = b""
        with conn:
            while (read := read_request(conn, buffer)) is not None:
                request, buffer = read
                self.requests.append(request)
                reply = self.answer(request)
                if reply is None:
                    return
                conn.sendall(reply)


class _Through(httpx.AsyncBaseTransport):
    """A transport that only forwards: the sender cannot see the pool, so it goes through
    httpx's request, transport and response as it does over any other transport."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


@pytest.fixture
def servers() -> Iterator[list[Recording]]:
    made: list[Recording] = []
    yield made
    for server in made:
        server.close()


def _both(
    servers: list[Recording],
    answer: Answer,
    *,
    body: bytes = b'{"PartNo":"P1"}',
    headers: Mapping[str, str] | None = None,
    timeout: float = 5,
) -> tuple[list[tuple[AttemptResult, str | None, list[bytes]]], bool]:
    """The outcome and the requests received, sent directly and through httpx (in that order),
    and whether the direct sender went to the pool itself."""
    found = []
    direct = False
    for through in (False, True):
        server = Recording(answer)
        servers.append(server)
        transport = pooled_transport(allowed=None)
        if through:
            transport = _Through(transport)
        else:
            direct = stack_pool(transport) is not None

        async def go(
            transport: httpx.AsyncBaseTransport = transport, url: str = server.url
        ) -> tuple[AttemptResult, str | None]:
            async with Sender(transport=transport) as sender:
                outcome = await sender.send(
                    url=url,
                    body=body,
                    headers=headers if headers is not None else {"Norce-Event-Type": "T"},
                    timeout=timeout,
                )
            return outcome.result, outcome.excerpt

        result, excerpt = asyncio.run(go())
        port = server.url.split(":")[2].split("/")[0].encode()
        # The two servers listen on different ports: the Host header says which.
        requests = [r.replace(b"127.0.0.1:" + port, b"127.0.0.1:PORT") for r in server.requests]
        found.append((result, excerpt, requests))
    return found, direct


def _answer(status: bytes, body: bytes = b"", *headers: bytes) -> Answer:
    head = b"HTTP/1.1 " + status + b"\r\nContent-Length: %d\r\n" % len(body)
    reply = head + b"".join(h + b"\r\n" for h in headers) + b"\r\n" + body
    return lambda _request: reply


def test_a_plain_answer_is_sent_and_read_the_same_directly(servers: list[Recording]) -> None:
    """A 200 with a body: the same request bytes (Host first, Content-Length last) and the same
    outcome and excerpt, directly or through httpx."""
    (direct, through), went_direct = _both(servers, _answer(b"200 OK", b"ok"))
    assert went_direct
    assert direct == through
    assert direct[0].status_code == 200
    assert direct[1] == "ok"
    (request,) = direct[2]
    assert request.split(b"\r\n")[1] == b"Host: 127.0.0.1:PORT"
    assert request.split(b"\r\n\r\n")[0].endswith(b"Content-Length: 15")


def test_an_empty_body_and_framing_headers_are_sent_as_httpx_sends_them(
    servers: list[Recording],
) -> None:
    """No body (Content-Length 0 right after Host), and a request that names its own Host:
    the same bytes on the wire either way."""
    ok = _answer(b"204 No Content")
    (direct, through), _ = _both(servers, ok, body=b"")
    assert direct == through
    assert b"Host: 127.0.0.1:PORT\r\nContent-Length: 0\r\n" in direct[2][0]
    (direct, through), _ = _both(servers, ok, headers={"Host": "elsewhere.example", "X-A": "1"})
    assert direct == through
    assert b"Host: elsewhere.example" in direct[2][0]


def test_retry_after_and_odd_statuses_are_read_the_same_directly(
    servers: list[Recording],
) -> None:
    """A 429 with two Retry-After headers (httpx joins them), a 503 with one, a 500 with a
    long body (cut): the same results and excerpts."""
    cases = [
        _answer(b"429 Too Many Requests", b"", b"Retry-After: 7", b"retry-after: 9"),
        _answer(b"503 Service Unavailable", b"busy", b"Retry-After: 120"),
        _answer(b"500 Internal Server Error", b"x" * 5000),
    ]
    for answer in cases:
        (direct, through), _ = _both(servers, answer)
        assert direct == through
    (direct, _through), _ = _both(servers, cases[0])
    assert direct[0].retry_after == "7, 9"


def test_an_encoded_answer_is_decoded_as_httpx_decodes_it(servers: list[Recording]) -> None:
    """A gzip-encoded answer goes through httpx's response: the excerpt is the decoded text."""
    answer = _answer(b"400 Bad Request", gzip.compress(b"bad payload"), b"Content-Encoding: gzip")
    (direct, through), _ = _both(servers, answer)
    assert direct == through
    assert direct[1] == "bad payload"


def test_a_redirect_is_followed_the_same_directly(servers: list[Recording]) -> None:
    """A 307 to another path on the same host: the POST is repeated there, body and headers
    and all, the same way directly or through httpx."""

    def answer(request: bytes) -> bytes:
        if request.startswith(b"POST /hook "):
            return (
                b"HTTP/1.1 307 Temporary Redirect\r\nLocation: /moved\r\nContent-Length: 0\r\n\r\n"
            )
        return b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nmoved"

    (direct, through), _ = _both(servers, answer)
    assert direct == through
    assert direct[1] == "moved"
    assert [r.split(b" ")[1] for r in direct[2]] == [b"/hook", b"/moved"]


def test_errors_are_httpx_errors_directly_too(servers: list[Recording]) -> None:
    """A header value h11 refuses and a server that hangs up: the same error words."""
    (direct, through), _ = _both(servers, _answer(b"200 OK"), headers={"X-A": " padded"})
    assert direct == through
    assert direct[0].error is not None
    assert direct[0].error.startswith("LocalProtocolError: ")
    (direct, through), _ = _both(servers, lambda _request: None)
    assert direct == through
    assert direct[0].error == "RemoteProtocolError: Server disconnected without sending a response."


def test_other_redirects_and_odd_answers_are_the_same_directly(servers: list[Recording]) -> None:
    """A 303 is answered by the same POST, body included, at its location; a redirect to another
    host is refused with its status, reason and excerpt, and nothing is sent there; a status
    outside 100-599 fails the attempt: the same outcome and requests directly or through httpx."""

    def see_other(request: bytes) -> bytes:
        if request.startswith(b"POST /hook "):
            return b"HTTP/1.1 303 See Other\r\nLocation: /moved\r\nContent-Length: 0\r\n\r\n"
        return b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nmoved"

    (direct, through), went_direct = _both(servers, see_other)
    assert went_direct
    assert direct == through
    first, second = direct[2]
    assert second.startswith(b"POST /moved ")
    assert second.split(b"\r\n\r\n")[1] == first.split(b"\r\n\r\n")[1] == b'{"PartNo":"P1"}'
    elsewhere = _answer(b"302 Found", b"gone", b"Location: http://other.example/hook")
    (direct, through), _ = _both(servers, elsewhere)
    assert direct == through
    assert direct[0].status_code == 302
    assert direct[0].error is not None
    assert "to another host, other.example, not followed" in direct[0].error
    assert direct[1] == "gone"
    assert len(direct[2]) == 1
    (direct, through), _ = _both(servers, _answer(b"999 Odd", b"?"))
    assert direct == through
    assert direct[0] == AttemptResult(error="invalid HTTP status code 999")


def test_a_body_that_stops_coming_times_out_directly_too(servers: list[Recording]) -> None:
    """An answer whose body stops short of its Content-Length on a connection kept open: the
    attempt ends at its timeout with no excerpt, directly as through httpx."""
    short = _answer(b"200 OK", b"abc")
    (direct, through), _ = _both(
        servers, lambda r: short(r).replace(b"Length: 3", b"Length: 99"), timeout=0.3
    )
    assert direct == through
    assert direct[0] == AttemptResult(error="timed out after 0.3 s")
    assert direct[1] is None


def test_over_its_own_pool_only_a_redirects_follow_up_goes_through_httpxs_transport(
    servers: list[Recording],
) -> None:
    """Over its own pool, the first request never goes through httpx's transport (a plain
    answer is read from the connection, an encoded one is wrapped and decoded by httpx); a
    redirect's follow-up does. The outcomes above being equal would not show that the direct
    path was taken at all."""
    moved = b"HTTP/1.1 307 Temporary Redirect\r\nLocation: /moved\r\nContent-Length: 0\r\n\r\n"
    encoded = gzip.compress(b"bad")
    answers: dict[bytes, bytes] = {
        b"/hook": _answer(b"200 OK", b"ok")(b""),
        b"/redirect": moved,
        b"/moved": _answer(b"200 OK", b"moved")(b""),
        b"/encoded": _answer(b"400 Bad Request", encoded, b"Content-Encoding: gzip")(b""),
    }
    server = Recording(lambda request: answers[request.split(b" ")[1]])
    servers.append(server)
    base = server.url.removesuffix("/hook")

    async def go() -> list[tuple[str | None, int]]:
        found = []
        async with Sender(transport=pooled_transport(allowed=None)) as sender:
            through = sender._transport.handle_async_request
            calls: list[httpx.Request] = []

            async def counted(request: httpx.Request) -> httpx.Response:
                calls.append(request)
                return await through(request)

            sender._transport.handle_async_request = counted  # type: ignore[method-assign]
            for path in ("/hook", "/redirect", "/encoded"):
                calls.clear()
                outcome = await sender.send(url=base + path, body=b"{}", headers={}, timeout=5)
                found.append((outcome.excerpt, len(calls)))
        return found

    assert asyncio.run(go()) == [("ok", 0), ("moved", 1), ("bad", 0)]
