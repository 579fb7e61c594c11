"""The sender reports what one attempt produced; it decides nothing and never raises."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from deltahook.delivery.redaction import CUT
from deltahook.delivery.sender import EXCERPT_BYTES, Outcome, Sender

URL = "https://shop.example/hooks"
BODY = b'{"ClientId":1042}'


def send_with(
    handler: Callable[[httpx.Request], httpx.Response], *, timeout: float = 5.0
) -> Outcome:
    """One attempt through an httpx transport that answers with ``handler``."""

    async def go() -> Outcome:
        async with Sender(transport=httpx.MockTransport(handler)) as sender:
            return await sender.send(url=URL, body=BODY, headers={"X-A": "1"}, timeout=timeout)

    return asyncio.run(go())


def test_a_2xx_is_a_success_with_the_body_as_excerpt() -> None:
    """A 2xx answer to the body sent is a success; its body is kept as the excerpt."""
    outcome = send_with(
        lambda request: httpx.Response(
            200 if request.content == BODY else 400, content=b'{"received": true}'
        )
    )
    assert outcome.result.succeeded
    assert outcome.result.status_code == 200
    assert outcome.excerpt == '{"received": true}'
    assert outcome.duration_ms >= 0


def test_a_2xx_without_a_body_has_no_excerpt() -> None:
    """A 204 (no body) is a success with no excerpt."""
    outcome = send_with(lambda request: httpx.Response(204 if request.content == BODY else 400))
    assert outcome.result.succeeded
    assert outcome.result.status_code == 204
    assert outcome.excerpt is None


def test_the_response_excerpt_is_bounded() -> None:
    """A 1 MB answer is cut to the excerpt size, marked as cut."""
    outcome = send_with(lambda _: httpx.Response(500, content=b"x" * 1_000_000))
    assert outcome.excerpt is not None
    assert outcome.excerpt.startswith("x" * EXCERPT_BYTES)
    assert len(outcome.excerpt) <= EXCERPT_BYTES + 2
    assert outcome.excerpt.endswith("…")


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


EURO = "€".encode()  # three bytes
PILE = "\U0001f4a9".encode()  # four bytes
X = b"x" * EXCERPT_BYTES


@pytest.mark.parametrize(
    ("chunks", "expected"),
    [
        ([X], "x" * EXCERPT_BYTES),  # exactly at the limit: whole, not marked cut
        ([X[:1024], X[1024:]], "x" * EXCERPT_BYTES),  # ... however it arrives
        ([X + b"y"], "x" * EXCERPT_BYTES + CUT),  # one byte over: cut and marked
        ([X, b"y"], "x" * EXCERPT_BYTES + CUT),  # ... also when the limit ends a chunk
        ([X[:-1] + EURO], "x" * (EXCERPT_BYTES - 1) + CUT),  # a character split: dropped
        ([X[:-2] + EURO], "x" * (EXCERPT_BYTES - 2) + CUT),
        ([X[:-3] + PILE], "x" * (EXCERPT_BYTES - 3) + CUT),
        ([X[:-3] + EURO], "x" * (EXCERPT_BYTES - 3) + "€"),  # ends the body at the limit: kept
        ([X[:-3] + EURO + b"y"], "x" * (EXCERPT_BYTES - 3) + "€" + CUT),  # ends the cut: kept
        ([b"a\x00b"], "a\ufffdb"),  # a NUL, which PostgreSQL text refuses, as U+FFFD
        ([b"a\xffb", b"\xe2\x82"], "a\ufffdb\ufffd"),  # not UTF-8 (not cut): U+FFFD
    ],
)
def test_the_excerpt_is_marked_cut_only_past_the_limit_and_stays_text(
    chunks: list[bytes], expected: str
) -> None:
    """Cut (marked) only when the body is longer than the limit, never mid-character, and
    holding only what a text column keeps."""
    outcome = send_with(lambda _: httpx.Response(500, content=_chunks(*chunks)))
    assert outcome.excerpt == expected


def test_retry_after_is_reported_for_the_policy() -> None:
    """A 429 with Retry-After fails the attempt and hands the header's value to the retry policy."""
    outcome = send_with(lambda _: httpx.Response(429, headers={"Retry-After": "30"}))
    assert (outcome.result.status_code, outcome.result.retry_after) == (429, "30")
    assert not outcome.result.succeeded


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (httpx.ConnectError("[Errno 111] Connection refused"), "connection failed: [Errno 111]"),
        (httpx.ReadTimeout("read timed out"), "timed out after 5 s"),
        (httpx.RemoteProtocolError("peer closed"), "RemoteProtocolError: peer closed"),
    ],
)
def test_transport_errors_become_a_result_not_an_exception(
    error: httpx.HTTPError, expected: str
) -> None:
    """A transport error becomes a failed result that says what went wrong, not an exception."""

    def fail(_: httpx.Request) -> httpx.Response:
        raise error

    outcome = send_with(fail)
    assert outcome.result.status_code is None
    assert outcome.result.error is not None
    assert outcome.result.error.startswith(expected)


def test_endless_redirects_stop_after_the_limit() -> None:
    """A receiver that redirects forever fails the attempt after five redirects."""
    outcome = send_with(lambda r: httpx.Response(302, headers={"Location": str(r.url) + "x"}))
    assert outcome.result.error == "more than 5 redirects"


def test_the_whole_attempt_is_bounded_by_the_timeout() -> None:
    """A body that never ends cannot keep the attempt past its timeout: the attempt ends
    while the body is still being awaited."""
    finished: list[bool] = []

    class Trickle(httpx.AsyncByteStream):
        async def __aiter__(self) -> AsyncIterator[bytes]:
            yield b""
            await asyncio.sleep(3600)
            finished.append(True)
            yield b"never"

    outcome = send_with(lambda _: httpx.Response(200, stream=Trickle()), timeout=0.2)
    assert outcome.result.error == "timed out after 0.2 s"
    assert finished == []


def test_https_urls_get_a_tls_context_when_first_needed() -> None:
    """The CA bundle loads on the first https request, not at start; errors stay results."""

    async def go() -> Outcome:
        async with Sender(allow_private=True) as sender:
            return await sender.send(url="https://127.0.0.1:9/", body=BODY, headers={}, timeout=2)

    outcome = asyncio.run(go())
    assert outcome.result.error is not None
    assert outcome.result.error.startswith("connection failed")


@pytest.mark.parametrize("allow_private", [True, False])
@pytest.mark.parametrize("url", ["http://shop..example/", "http://127.0.0.1:99999/"])
def test_a_stored_url_no_connection_could_be_made_to_is_a_failed_attempt(
    url: str, allow_private: bool
) -> None:
    """A URL stored before such URLs were refused (an empty host label, a port past 65535)
    fails its attempt with the reason; the resolver's UnicodeError or OverflowError was raised
    instead: an internal error for the dispatcher, a 500 for a test send."""

    async def go() -> Outcome:
        async with Sender(allow_private=allow_private) as sender:
            return await sender.send(url=url, body=BODY, headers={}, timeout=2)

    outcome = asyncio.run(go())
    assert outcome.result.error is not None
    assert outcome.result.error.startswith("connection failed"), outcome.result.error


def follow_once(
    status: int, location: str, *, headers: dict[str, str] | None = None, url: str = URL
) -> list[httpx.Request]:
    """The requests made when the first answer is a ``status`` redirect to ``location``."""
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if len(seen) == 1:
            return httpx.Response(status, headers={"Location": location})
        return httpx.Response(200)

    async def go() -> Outcome:
        async with Sender(transport=httpx.MockTransport(answer)) as sender:
            return await sender.send(url=url, body=BODY, headers=headers or {}, timeout=5)

    assert asyncio.run(go()).result.status_code == 200
    return seen


REDIRECTS = [301, 302, 303, 307, 308]


@pytest.mark.parametrize("status", REDIRECTS)
def test_every_redirect_repeats_the_post_with_its_body_and_headers(status: int) -> None:
    """A webhook redirect means "the endpoint is elsewhere": the same POST goes there."""
    headers = {"Authorization": "Bearer t0k3n", "X-Key": "k", "webhook-signature": "v1,s"}
    _, second = follow_once(status, "/moved", headers=headers)
    assert (second.method, str(second.url), second.content) == (
        "POST",
        "https://shop.example/moved",  # a relative location resolves against the request
        BODY,
    )
    for name, value in headers.items():
        assert second.headers[name] == value


def test_an_upgrade_to_https_on_the_same_host_is_followed() -> None:
    """http -> https on the subscription's host (another port too) keeps everything."""
    _, second = follow_once(301, "https://shop.example:8443/hooks", url="http://shop.example/")
    assert (second.method, str(second.url), second.content) == (
        "POST",
        "https://shop.example:8443/hooks",
        BODY,
    )


@pytest.mark.parametrize(
    ("location", "reason"),
    [
        ("https://elsewhere.example/", "to another host, elsewhere.example"),
        ("http://shop.example/", "from https to http"),
        ("ftp://shop.example/y", "to a ftp URL"),
    ],
)
def test_a_refused_redirect_fails_the_attempt_and_sends_nothing_there(
    location: str, reason: str
) -> None:
    """The payload and its credentials never leave the subscription's host, nor go in clear."""
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(302, headers={"Location": location})

    outcome = send_with(answer)
    assert len(seen) == 1
    assert not outcome.result.succeeded
    assert outcome.result.status_code == 302
    assert outcome.result.error is not None
    assert reason in outcome.result.error
    assert "set the subscription's URL" in outcome.result.error
