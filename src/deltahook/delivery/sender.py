"""One HTTP attempt: POST the body, report what happened. No decisions, no database.

One pooled httpx transport serves every subscription (connections are kept alive per host).
The sender calls it directly rather than through ``httpx.AsyncClient``, whose per-request
machinery (auth flow, cookies, hooks) a webhook does not use and which cost 30% of the
throughput; it follows redirects itself, as a webhook must (``redirects.py``). Over its own
pool (``pool.stack_pool``) it goes one layer further down: it hands the pool the httpcore
request httpx's transport would have built (same headers, same order) and reads an answer that
is neither a redirect nor content-encoded straight from the connection, with httpx's mapping
of errors; any other answer becomes the ``httpx.Response`` the transport would have returned,
so redirects, decoding and errors are httpx's as before. The whole attempt, redirects and
reading the response excerpt included, is bounded by the subscription's timeout, so a receiver
that trickles bytes cannot hold a claim for longer than its lease allows.
"""

from __future__ import annotations

import asyncio
import codecs
import time
from collections.abc import AsyncIterable, Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar

import httpcore
import httpx
from httpx._transports.default import AsyncResponseStream, map_httpcore_exceptions

from deltahook.delivery import redirects
from deltahook.delivery.guard import is_public
from deltahook.delivery.pool import pooled_transport, stack_pool
from deltahook.delivery.redaction import CUT
from deltahook.delivery.retry import AttemptResult

K = TypeVar("K")
V = TypeVar("V")

MAX_REDIRECTS = 5
EXCERPT_BYTES = 2048
"""The longest response body excerpt kept in the log (bytes, before decoding)."""
CACHED_URLS = 1024
"""Parsed subscription URLs (httpx's and the pool's) and timeouts kept; past that, each cache
starts again."""
FRAMING = frozenset({"host", "content-length", "transfer-encoding"})
"""Headers httpx's request adds itself unless given: a request giving one goes through httpx."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """What one attempt produced: the result the retry policy reads, and what the log keeps."""

    result: AttemptResult
    duration_ms: float
    excerpt: str | None = None


class Sender:
    """Posts webhook requests over one pooled httpx transport; an async context manager.

    ``transport`` defaults to ``pool.pooled_transport()``, which connects only to public
    addresses unless ``allow_private``; tests pass ``httpx.MockTransport``.
    """

    def __init__(
        self,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        excerpt_bytes: int = EXCERPT_BYTES,
        max_redirects: int = MAX_REDIRECTS,
        allow_private: bool = False,
    ) -> None:
        # One pool for every subscription; the dispatcher bounds concurrency per subscription.
        self._transport = transport or pooled_transport(
            allowed=None if allow_private else is_public
        )
        self._pool = stack_pool(self._transport)
        self._excerpt_bytes = excerpt_bytes
        self._max_redirects = max_redirects
        # Parsed once per URL and timeout, not per request (parsing was 5% of a delivery).
        self._urls: dict[str, httpx.URL] = {}
        self._targets: dict[str, tuple[httpcore.URL, bytes] | None] = {}
        self._timeouts: dict[float, dict[str, Any]] = {}

    async def __aenter__(self) -> Sender:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._transport.aclose()

    async def send(
        self, *, url: str, body: bytes, headers: Mapping[str, str], timeout: float
    ) -> Outcome:
        """POST ``body`` to ``url``; never raises for anything the network or receiver does."""
        started = time.perf_counter()
        try:
            async with asyncio.timeout(timeout):
                result, excerpt = await self._post(url, body, headers, timeout)
        except TimeoutError:
            result, excerpt = AttemptResult(error=f"timed out after {timeout:g} s"), None
        except httpx.TooManyRedirects:
            error = f"more than {self._max_redirects} redirects"
            result, excerpt = AttemptResult(error=error), None
        except httpx.TimeoutException:
            result, excerpt = AttemptResult(error=f"timed out after {timeout:g} s"), None
        except httpx.HTTPError as exc:
            result, excerpt = AttemptResult(error=_describe(exc)), None
        duration_ms = (time.perf_counter() - started) * 1000.0
        return Outcome(result=result, duration_ms=duration_ms, excerpt=excerpt)

    async def _post(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout: float
    ) -> tuple[AttemptResult, str | None]:
        answer = None
        if self._pool is not None:
            answer = await self._exchange(url, body, headers, timeout)
            if answer is not None and answer.status not in redirects.REDIRECT_STATUSES:
                plain, retry_after = _plain(answer.headers)
                if plain:
                    try:
                        excerpt = await self._raw_excerpt(answer)
                    finally:
                        await answer.aclose()
                    return _result(answer.status, None, retry_after), excerpt
        request = httpx.Request(
            "POST",
            self._url(url),
            content=body,
            headers=headers,
            extensions=self._extensions(timeout),
        )
        first = None
        if answer is not None:  # what httpx's transport returns for it
            assert isinstance(answer.stream, AsyncIterable)
            first = httpx.Response(
                status_code=answer.status,
                headers=answer.headers,
                stream=AsyncResponseStream(answer.stream),
                extensions=answer.extensions,
            )
        response, refusal = await self._request(request, first)
        try:
            excerpt = await self._excerpt(response.aiter_bytes())
        finally:
            await response.aclose()
        return _result(response.status_code, refusal, response.headers.get("retry-after")), excerpt

    async def _exchange(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout: float
    ) -> httpcore.Response | None:
        """Make the request on the pool as httpx's transport would (the same httpcore request:
        ``Host`` first, ``Content-Length`` after the given headers); ``None`` when the request
        is one to make through httpx (it gives a framing header, or its URL has no host)."""
        assert self._pool is not None
        target = self._target(url)
        if target is None:
            return None
        parsed, netloc = target
        raw = [(b"Host", netloc)]
        try:
            for name, value in headers.items():
                if name.lower() in FRAMING:
                    return None
                raw.append((name.encode("ascii"), value.encode("ascii")))
        except (UnicodeEncodeError, AttributeError):
            return None  # httpx raises its own error for it
        if body:
            raw.append((b"Content-Length", b"%d" % len(body)))
        else:
            raw.insert(1, (b"Content-Length", b"0"))
        request = httpcore.Request(
            b"POST", parsed, headers=raw, content=body, extensions=self._extensions(timeout)
        )
        with map_httpcore_exceptions():
            return await self._pool.handle_async_request(request)

    def _target(self, url: str) -> tuple[httpcore.URL, bytes] | None:
        """The httpcore URL and ``Host`` value httpx's transport makes of ``url``, or ``None``
        when it has no host (httpx then sends no ``Host``)."""
        return _kept(self._targets, url, self._make_target)

    def _make_target(self, url: str) -> tuple[httpcore.URL, bytes] | None:
        parsed = self._url(url)
        if not parsed.host:
            return None
        core = httpcore.URL(
            scheme=parsed.raw_scheme, host=parsed.raw_host, port=parsed.port, target=parsed.raw_path
        )
        return core, parsed.netloc

    async def _raw_excerpt(self, answer: httpcore.Response) -> str | None:
        """``_excerpt`` of an answer without ``Content-Encoding``, read from its connection."""
        assert isinstance(answer.stream, AsyncIterable)
        with map_httpcore_exceptions():
            return await self._excerpt(answer.stream)

    def _url(self, url: str) -> httpx.URL:
        return _kept(self._urls, url, httpx.URL)

    def _extensions(self, timeout: float) -> dict[str, Any]:
        return _kept(self._timeouts, timeout, _timeout_extensions)

    async def _request(
        self, request: httpx.Request, first: httpx.Response | None = None
    ) -> tuple[httpx.Response, str | None]:
        """Send ``request`` (``first``: its response, when already made), following up to
        ``max_redirects`` redirects: the last response, and why it was not followed when it is
        a redirect that ``redirects`` refused."""
        for _ in range(self._max_redirects + 1):
            if first is None:
                response = await self._transport.handle_async_request(request)
            else:
                response, first = first, None
            response.request = request
            target = redirects.location(response)
            if target is None:
                return response, None
            try:
                following = redirects.follow(request, response.status_code, target)
            except redirects.Refused as refused:
                return response, str(refused)
            await response.aclose()
            request = following
        raise httpx.TooManyRedirects(f"more than {self._max_redirects} redirects", request=request)

    async def _excerpt(self, chunks: AsyncIterable[bytes]) -> str | None:
        """The start of a response body as text, at most ``excerpt_bytes`` of it: ``excerpt_of``
        of what was read, reading on until the body is known to be longer than that or ends."""
        read: list[bytes] = []
        size = 0
        async for chunk in chunks:
            read.append(chunk)
            size += len(chunk)
            if size > self._excerpt_bytes:
                break
        return excerpt_of(b"".join(read), self._excerpt_bytes)


def excerpt_of(body: bytes, limit: int = EXCERPT_BYTES) -> str | None:
    """``body`` (or its start) as the text the log keeps: ``None`` for no body; a body longer
    than ``limit`` bytes cut to ``limit`` and marked with ``CUT``, dropping a character the cut
    split; bytes that are not UTF-8 as U+FFFD, and so a NUL (PostgreSQL text cannot hold it)."""
    if not body:
        return None
    cut = len(body) > limit
    # Not final when cut: the decoder holds back a character whose bytes the cut split.
    text = codecs.getincrementaldecoder("utf-8")("replace").decode(body[:limit], final=not cut)
    text = text.replace("\x00", "\ufffd")
    return text + CUT if cut else text


def _kept(found: dict[K, V], key: K, make: Callable[[K], V]) -> V:
    """``found[key]``, made by ``make`` the first time (a URL, a timeout: parsed once, not per
    request); past ``CACHED_URLS`` entries the dict starts again."""
    if key in found:
        return found[key]
    if len(found) >= CACHED_URLS:
        found.clear()
    value = found[key] = make(key)
    return value


def _timeout_extensions(timeout: float) -> dict[str, Any]:
    return {"timeout": httpx.Timeout(timeout).as_dict()}


def _plain(headers: list[tuple[bytes, bytes]]) -> tuple[bool, str | None]:
    """Whether an answer has no ``Content-Encoding`` (its body is read as it comes), and its
    ``Retry-After`` as httpx's ``headers.get`` reads it."""
    plain, retry_after = True, False
    for name, _value in headers:
        lowered = name.lower()
        if lowered == b"content-encoding":
            plain = False
        elif lowered == b"retry-after":
            retry_after = True
    return plain, httpx.Headers(headers).get("retry-after") if retry_after else None


def _result(status: int, refusal: str | None, retry_after: str | None) -> AttemptResult:
    if not 100 <= status <= 599:
        return AttemptResult(error=f"invalid HTTP status code {status}")
    return AttemptResult(status_code=status, error=refusal, retry_after=retry_after)


def _describe(exc: httpx.HTTPError) -> str:
    """A one-line reason without the request URL (it may carry a token)."""
    reason = str(exc).strip() or type(exc).__name__
    if isinstance(exc, httpx.ConnectError):
        return f"connection failed: {reason}"
    return f"{type(exc).__name__}: {reason}"
