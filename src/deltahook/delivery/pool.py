"""The sender's connection pool: constant work per request, however many connections are open.

httpcore's own pool re-examines every connection (with a socket syscall each) on every
request and response; with the dozens of keep-alive connections a dispatcher holds, that
becomes most of the CPU a delivery costs (profiled: 3x fewer requests per second at 32
connections than at 8). This pool keeps idle HTTP/1.1 connections per origin on a stack: a
request takes the most recently used one that is still sound, or opens a new one; the
response's close puts it back. Concurrency is bounded by the dispatcher's lanes, per
subscription. Each connection is an ``http11.Connection`` (h11, no locks: the pool gives it to
one request at a time) over a stream of ``stream.AsyncioBackend`` (plain asyncio, not anyio),
through ``guard.PublicOnly`` (unless ``allowed`` is ``None``), so an address is judged when it
is connected to.

A receiver that answers before reading a request's body and keeps the connection open leaves
the body's bytes on it; it then reads them as the start of the next request and answers that
one 400 or 501. Nothing on our side can see those bytes, so a reused connection answered so is
dropped and the request made once more on a new one (receivers drop repeats by message id);
when the new answer differs, that origin's connections serve one request each from then on.

``pooled_transport()`` plugs it into ``httpx.AsyncClient``, so redirects, timeouts,
exceptions and the response API stay httpx's. That relies on internals of both libraries:
``httpx.AsyncHTTPTransport`` forwarding to its ``_pool`` attribute, and httpcore's request,
response and error types (the sender also calls the pool itself, ``stack_pool``, with
httpx's ``map_httpcore_exceptions`` and ``AsyncResponseStream``). pyproject.toml therefore
pins httpx and httpcore to the minors this was tested with (0.28, 1.0); check this module and
``sender.py`` before widening.
"""

from __future__ import annotations

import logging
import socket
import ssl
from collections.abc import AsyncIterator, Callable, Iterable
from types import TracebackType
from typing import Any

import httpcore
import httpx

from deltahook.delivery.guard import Address, PublicOnly, is_public
from deltahook.delivery.http11 import Connection
from deltahook.delivery.stream import AsyncioBackend

logger = logging.getLogger("deltahook.delivery")

KEEPALIVE_EXPIRY_S = 5.0
MAX_IDLE_PER_ORIGIN = 1000
GARBLED = frozenset({400, 405, 501, 505})
"""What a receiver answers when what it reads as a request starts with the body of an
earlier one it answered without reading (http.server: 501; most others: 400)."""
NO_DELAY = (socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
"""Headers and body go out in separate writes: without this, Nagle can hold the body back."""


class StackPool:
    """Idle connections per origin, last in first out; new ones opened on demand."""

    def __init__(
        self,
        *,
        ssl_context: Callable[[], ssl.SSLContext],
        socket_options: Iterable[Any] = (NO_DELAY,),
        keepalive_expiry: float = KEEPALIVE_EXPIRY_S,
        network_backend: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self._make_ssl_context = ssl_context
        self._network_backend = network_backend or AsyncioBackend()
        self._ssl_context: ssl.SSLContext | None = None  # loading CA certificates takes ~50 ms
        self._socket_options = list(socket_options)
        self._keepalive_expiry = keepalive_expiry
        self._idle: dict[_Key, list[Connection]] = {}
        self._busy: set[Connection] = set()
        self._single_use: set[_Key] = set()  # receivers that leave request bodies unread

    async def __aenter__(self) -> StackPool:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        await self.aclose()

    async def handle_async_request(self, request: httpcore.Request) -> httpcore.Response:
        origin = request.url.origin
        for _ in range(3):
            connection, reused = await self._checkout(origin)
            try:
                response = await connection.handle_async_request(request)
            except httpcore.ConnectionNotAvailable:
                await self._discard(connection)  # the server closed it while idle: take another
                continue
            except BaseException:
                await self._discard(connection)
                raise
            if reused and response.status in GARBLED:
                return await self._again(request, response, connection)
            return self._returning(response, origin, connection)
        raise httpcore.ConnectionNotAvailable()

    async def _again(
        self,
        request: httpcore.Request,
        suspect: httpcore.Response,
        connection: Connection,
    ) -> httpcore.Response:
        """Make ``request`` again on a new connection: the answer on the reused one may be to
        bytes an earlier request left unread. If the new answer differs, the receiver leaves
        bodies unread: its connections serve one request each from now on."""
        origin = request.url.origin
        await suspect.aclose()
        await self._discard(connection)
        fresh, _ = await self._checkout(origin, reuse=False)
        try:
            response = await fresh.handle_async_request(request)
        except BaseException:
            await self._discard(fresh)
            raise
        if response.status != suspect.status and _key(origin) not in self._single_use:
            self._single_use.add(_key(origin))
            logger.warning(
                "%s answered a request before reading its body and kept the connection open; "
                "its connections now serve one request each",
                origin,
            )
        return self._returning(response, origin, fresh)

    def _returning(
        self,
        response: httpcore.Response,
        origin: httpcore.Origin,
        connection: Connection,
    ) -> httpcore.Response:
        # The response is the connection's own, made for this request: its body takes the
        # connection back when closed (no second Response checking the same headers again).
        response.stream = _Returning(response.stream, self, origin, connection)
        return response

    async def _checkout(
        self, origin: httpcore.Origin, *, reuse: bool = True
    ) -> tuple[Connection, bool]:
        """An idle connection to ``origin`` that is still sound (and ``True``), or a new one."""
        idle = self._idle.get(_key(origin)) if reuse else None
        while idle:
            connection = idle.pop()
            if connection.is_available() and not connection.has_expired():
                self._busy.add(connection)
                return connection, True
            await connection.aclose()
        if origin.scheme == b"https" and self._ssl_context is None:
            self._ssl_context = self._make_ssl_context()
        connection = Connection(
            origin,
            backend=self._network_backend,
            ssl_context=self._ssl_context,
            keepalive_expiry=self._keepalive_expiry,
            socket_options=self._socket_options,
        )
        self._busy.add(connection)
        return connection, False

    async def _checkin(self, origin: httpcore.Origin, connection: Connection) -> None:
        self._busy.discard(connection)
        key = _key(origin)
        idle = self._idle.setdefault(key, [])
        if connection.is_idle() and len(idle) < MAX_IDLE_PER_ORIGIN and key not in self._single_use:
            idle.append(connection)
        else:
            await connection.aclose()

    async def _discard(self, connection: Connection) -> None:
        self._busy.discard(connection)
        await connection.aclose()

    async def aclose(self) -> None:
        connections = [*self._busy, *(c for idle in self._idle.values() for c in idle)]
        self._busy.clear()
        self._idle.clear()
        for connection in connections:
            await connection.aclose()


_Key = tuple[bytes, bytes, int]


def _key(origin: httpcore.Origin) -> _Key:
    return (origin.scheme, origin.host, origin.port)  # Origin itself is not hashable


class _Returning:
    """A response body that gives its connection back to the pool when closed."""

    def __init__(
        self,
        stream: Any,
        pool: StackPool,
        origin: httpcore.Origin,
        connection: Connection,
    ) -> None:
        self._stream = stream
        self._pool = pool
        self._origin = origin
        self._connection: Connection | None = connection

    def __aiter__(self) -> AsyncIterator[bytes]:
        iterator: AsyncIterator[bytes] = self._stream.__aiter__()  # no generator of our own
        return iterator

    async def aclose(self) -> None:
        if hasattr(self._stream, "aclose"):
            await self._stream.aclose()
        if self._connection is not None:
            connection, self._connection = self._connection, None
            await self._pool._checkin(self._origin, connection)


class _Transport(httpx.AsyncHTTPTransport):
    """httpx's transport (request mapping, exception mapping) over a ``StackPool``."""

    def __init__(self, pool: StackPool) -> None:  # no super().__init__: it builds its own pool
        self._pool = pool  # type: ignore[assignment]
        self.stack = pool


def stack_pool(transport: httpx.AsyncBaseTransport) -> StackPool | None:
    """The ``StackPool`` under a transport ``pooled_transport`` made, or ``None``."""
    return transport.stack if isinstance(transport, _Transport) else None


def pooled_transport(
    *, verify: bool | ssl.SSLContext = True, allowed: Callable[[Address], bool] | None = is_public
) -> httpx.AsyncBaseTransport:
    """The sender's transport: it connects only to addresses ``allowed`` says yes to (public
    ones by default; ``None`` for any, as with ``allow_private_urls``)."""
    backend: httpcore.AsyncNetworkBackend = AsyncioBackend()
    if allowed is not None:
        backend = PublicOnly(backend, allowed=allowed)
    return _Transport(
        StackPool(
            ssl_context=lambda: httpx.create_ssl_context(verify=verify, trust_env=False),
            network_backend=backend,
        )
    )
