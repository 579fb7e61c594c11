"""One HTTP/1.1 connection for the sender's pool, on h11: what httpcore's
``AsyncHTTPConnection`` and ``AsyncHTTP11Connection`` do for HTTP/1.1, less what a pool that
hands a connection to one request at a time does not need.

httpcore guards each connection's state with anyio locks and shields its clean-up from
cancellation with anyio cancel scopes; each lock taken is a trip round the event loop, and
with the scopes and its trace hooks that was the largest share of a delivery's CPU left once
the streams were plain asyncio (``stream.py``). ``pool.StackPool`` never gives a connection to
two requests at once, so here the state is a plain attribute. The protocol itself is h11's, as
in httpcore; the behaviour is httpcore's: a request whose body the server stops reading still
gets the server's answer, a connection is kept only when both sides finished the exchange, a
kept-alive connection expires after ``keepalive_expiry`` or once the server closes it, and
errors are httpcore's (``ConnectError``, ``RemoteProtocolError``, ...), which httpx maps. A
request's headers are checked as h11 checks them, with h11's own patterns, but a header name
is matched once, not on every request (``_checked``; this reads h11's internals, pinned in
pyproject.toml).
"""

from __future__ import annotations

import contextlib
import enum
import ssl
import time
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from typing import Any

import h11
import httpcore
from h11._headers import CONTENT_LENGTH_MAX_DIGITS, Headers, _field_name_re, _field_value_re

READ_BYTES = 64 * 1024
MAX_INCOMPLETE_EVENT_SIZE = 100 * 1024
"""The longest response head h11 buffers before giving up on it (httpcore's limit)."""
KNOWN_NAMES = 1024
_NAMES: dict[bytes, bytes] = {}
"""Header names h11 accepts, each with its lower case (a request sends the same few)."""


class State(enum.IntEnum):
    NEW = 0
    ACTIVE = 1
    IDLE = 2
    CLOSED = 3


class Connection:
    """A connection to one origin, opened by its first request, one request at a time."""

    def __init__(
        self,
        origin: httpcore.Origin,
        *,
        backend: httpcore.AsyncNetworkBackend,
        ssl_context: ssl.SSLContext | None,
        keepalive_expiry: float | None,
        socket_options: Iterable[Any] = (),
    ) -> None:
        self._origin = origin
        self._backend = backend
        self._ssl_context = ssl_context
        self._keepalive_expiry = keepalive_expiry
        self._socket_options = socket_options
        self._stream: httpcore.AsyncNetworkStream | None = None
        self._h11 = h11.Connection(
            our_role=h11.CLIENT, max_incomplete_event_size=MAX_INCOMPLETE_EVENT_SIZE
        )
        self._state = State.NEW
        self._expire_at: float | None = None

    async def handle_async_request(self, request: httpcore.Request) -> httpcore.Response:
        """Send ``request`` and return the response with its body still to be read; the
        connection is busy until that body is closed."""
        if self._state not in (State.NEW, State.IDLE):
            raise httpcore.ConnectionNotAvailable()
        self._state = State.ACTIVE
        self._expire_at = None
        timeouts = request.extensions.get("timeout", {})
        try:
            if self._stream is None:
                self._stream = await self._connect(request, timeouts.get("connect"))
            # A server may stop reading and still answer (a 413, say): read the answer.
            with contextlib.suppress(httpcore.WriteError):
                await self._send(self._stream, request, timeouts.get("write"))
            response = await self._receive_head(timeouts.get("read"))
        except BaseException:
            await self._response_closed()
            raise
        return httpcore.Response(
            status=response.status_code,
            headers=response.headers.raw_items(),
            content=_Body(self, timeouts.get("read")),
            extensions={
                "http_version": b"HTTP/" + response.http_version,
                "reason_phrase": response.reason,
                "network_stream": self._stream,
            },
        )

    async def _connect(
        self, request: httpcore.Request, timeout: float | None
    ) -> httpcore.AsyncNetworkStream:
        host = self._origin.host.decode("ascii")
        stream = await self._backend.connect_tcp(
            host, self._origin.port, timeout=timeout, socket_options=self._socket_options
        )
        if self._origin.scheme == b"https":
            context = self._ssl_context or httpcore.default_ssl_context()
            context.set_alpn_protocols(["http/1.1"])
            sni = request.extensions.get("sni_hostname") or host
            stream = await stream.start_tls(context, server_hostname=sni, timeout=timeout)
        return stream

    async def _send(
        self, stream: httpcore.AsyncNetworkStream, request: httpcore.Request, timeout: float | None
    ) -> None:
        try:
            head = h11.Request(
                method=request.method, target=request.url.target, headers=_checked(request.headers)
            )
        except h11.LocalProtocolError as exc:
            raise httpcore.LocalProtocolError(str(exc)) from exc
        h11_state = self._h11
        await _write(stream, h11_state.send(head), timeout)
        assert isinstance(request.stream, AsyncIterable)
        async for chunk in request.stream:
            await _write(stream, h11_state.send(h11.Data(data=chunk)), timeout)
        await _write(stream, h11_state.send(h11.EndOfMessage()), timeout)

    async def _receive_head(self, timeout: float | None) -> h11.Response:
        while True:
            event = await self._receive_event(timeout)
            if isinstance(event, h11.Response):
                return event
            # an informational (1xx) response: the real one follows

    async def receive_body_event(self, timeout: float | None) -> bytes | None:
        """The next piece of the response body, or ``None`` at its end."""
        while True:
            event = await self._receive_event(timeout)
            if isinstance(event, h11.Data):
                return bytes(event.data)
            if isinstance(event, h11.EndOfMessage) or event is h11.PAUSED:
                return None

    async def _receive_event(self, timeout: float | None) -> Any:
        h11_state = self._h11
        while True:
            try:
                event = h11_state.next_event()
            except h11.RemoteProtocolError as exc:
                raise httpcore.RemoteProtocolError(str(exc)) from exc
            if event is not h11.NEED_DATA:
                return event
            assert self._stream is not None
            data = await self._stream.read(READ_BYTES, timeout=timeout)
            if data == b"" and h11_state.their_state == h11.SEND_RESPONSE:
                raise httpcore.RemoteProtocolError(
                    "Server disconnected without sending a response."
                )
            h11_state.receive_data(data)

    async def _response_closed(self) -> None:
        h11_state = self._h11
        if h11_state.our_state is h11.DONE and h11_state.their_state is h11.DONE:
            self._state = State.IDLE
            h11_state.start_next_cycle()
            if self._keepalive_expiry is not None:
                self._expire_at = time.monotonic() + self._keepalive_expiry
        else:
            await self.aclose()

    async def aclose(self) -> None:
        self._state = State.CLOSED
        if self._stream is not None:
            await self._stream.aclose()

    def is_available(self) -> bool:
        """Idle: a kept-alive connection ready for another request."""
        return self._state == State.IDLE

    def has_expired(self) -> bool:
        """Kept alive too long, or closed by the server while idle."""
        if self._expire_at is not None and time.monotonic() > self._expire_at:
            return True
        return (
            self._state == State.IDLE
            and self._stream is not None
            and bool(self._stream.get_extra_info("is_readable"))
        )

    def is_idle(self) -> bool:
        return self._state == State.IDLE

    def is_closed(self) -> bool:
        return self._state == State.CLOSED

    def __repr__(self) -> str:
        return f"<Connection [{self._origin}, {self._state.name}]>"


def _checked(headers: list[tuple[bytes, bytes]]) -> Headers | list[tuple[bytes, bytes]]:
    """The headers as h11's own check (``normalize_and_validate``) leaves them, with less work
    per header (a name h11 accepted once is not matched again); or as given when one is out of
    the ordinary (a name not seen yet that h11 refuses, a value it refuses, Transfer-Encoding,
    a Content-Length other than one plain number), for h11 to check and say what is wrong."""
    full = []
    length = None
    for name, value in headers:
        if type(name) is not bytes or type(value) is not bytes:
            return headers
        lowered = _NAMES.get(name)
        if lowered is None:
            if not _field_name_re.fullmatch(name):
                return headers
            lowered = name.lower()
            if lowered == b"transfer-encoding":
                return headers
            if len(_NAMES) < KNOWN_NAMES:
                _NAMES[name] = lowered
        if not _field_value_re.fullmatch(value):
            return headers
        if lowered == b"content-length":
            if length is not None or not value.isdigit() or len(value) > CONTENT_LENGTH_MAX_DIGITS:
                return headers
            length = value
        full.append((name, lowered, value))
    return Headers(full)


async def _write(
    stream: httpcore.AsyncNetworkStream, data: bytes | None, timeout: float | None
) -> None:
    if data:
        await stream.write(data, timeout=timeout)


class _Body:
    """A response's body; closing it (or a failure reading it) ends the exchange."""

    def __init__(self, connection: Connection, timeout: float | None) -> None:
        self._connection = connection
        self._timeout = timeout
        self._closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        connection, timeout = self._connection, self._timeout
        try:
            while (chunk := await connection.receive_body_event(timeout)) is not None:
                yield chunk
        except BaseException:
            await self.aclose()
            raise

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            await self._connection._response_closed()
