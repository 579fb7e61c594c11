"""The sender's network streams: httpcore's ``AsyncNetworkBackend`` on plain asyncio.

httpcore's default backend on asyncio goes through anyio: every read and write opens a
cancel scope, takes a checkpoint (a trip round the event loop) and stops and restarts reading
on the socket (two epoll system calls); asking a kept-alive connection whether the server has
closed it builds a dictionary of every socket attribute and polls the socket. Profiled, that
was a third of the CPU a delivery costs. Here one ``asyncio.Protocol`` per connection keeps
reading into a buffer; a read returns what is buffered or waits for more; a connection's
state (data, end of stream, error) is known without a system call.

Writes are held until the stream is read (or the held bytes pass ``CORK_BYTES``): httpcore
writes a request's head and body separately, and an HTTP/1.1 client always reads after it
writes, so a request goes out in one ``send`` (one packet for small webhooks) rather than two.

Errors are httpcore's, as its own backends raise them (``ConnectError``, ``ReadTimeout``, ...),
so httpx maps them as before.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterable
from typing import Any

import httpcore

CORK_BYTES = 64 * 1024
"""Held writes beyond this go out at once (a large body is streamed, not gathered)."""
READ_PAUSE_BYTES = 256 * 1024
"""Buffered unread bytes beyond this pause reading from the socket until they are read."""


class _Protocol(asyncio.Protocol):
    """Collects what arrives; wakes the one reader waiting, if any."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.eof = False
        self.error: BaseException | None = None
        self.closed = False
        self.paused = False  # reading paused: the buffer is full
        self.waiter: asyncio.Future[None] | None = None
        self.drained: asyncio.Future[None] | None = None  # set while writing is paused

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) > READ_PAUSE_BYTES and self.transport is not None:
            self.transport.pause_reading()
            self.paused = True
        self._wake()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake()
        return False  # the transport closes itself

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.eof = True
        self.error = exc
        self._wake()
        if self.drained is not None and not self.drained.done():
            self.drained.set_result(None)

    def pause_writing(self) -> None:
        if self.drained is None or self.drained.done():
            self.drained = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self.drained is not None and not self.drained.done():
            self.drained.set_result(None)

    def _wake(self) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class Stream(httpcore.AsyncNetworkStream):
    """One connection: reads from the protocol's buffer, writes held until the next read."""

    def __init__(self, transport: asyncio.Transport, protocol: _Protocol) -> None:
        self._transport = transport
        self._protocol = protocol
        self._held: list[bytes] = []
        self._held_bytes = 0

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        protocol = self._protocol
        if self._held:
            self._flush()
        while not protocol.buffer:
            if protocol.eof:
                if protocol.error is not None:
                    raise httpcore.ReadError(str(protocol.error) or repr(protocol.error))
                return b""
            await _wait(protocol, timeout)
        buffer = protocol.buffer
        if len(buffer) <= max_bytes:
            data = bytes(buffer)
            buffer.clear()
        else:
            data = bytes(buffer[:max_bytes])
            del buffer[:max_bytes]
        if protocol.paused and len(buffer) <= READ_PAUSE_BYTES // 2:
            protocol.paused = False
            self._transport.resume_reading()
        return data

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        if self._protocol.closed or self._transport.is_closing():
            raise httpcore.WriteError("the connection is closed")
        self._held.append(buffer)
        self._held_bytes += len(buffer)
        if self._held_bytes >= CORK_BYTES:
            self._flush()
            drained = self._protocol.drained
            if drained is not None and not drained.done():
                try:
                    async with asyncio.timeout(timeout):
                        await asyncio.shield(drained)
                except TimeoutError:
                    raise httpcore.WriteTimeout("timed out writing the request") from None
            if self._protocol.closed:
                raise httpcore.WriteError(str(self._protocol.error or "the connection closed"))

    def _flush(self) -> None:
        data = self._held[0] if len(self._held) == 1 else b"".join(self._held)
        self._held.clear()
        self._held_bytes = 0
        if not self._transport.is_closing():
            self._transport.write(data)

    async def aclose(self) -> None:
        self._held.clear()
        if not self._transport.is_closing():
            self._transport.close()
            try:
                await asyncio.sleep(0)  # let the transport close its socket
            finally:  # even when cancelled here: a TLS transport may still wait for the peer
                self._transport.abort()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                transport = await loop.start_tls(
                    self._transport, self._protocol, ssl_context, server_hostname=server_hostname
                )
        except TimeoutError:
            self._transport.abort()
            raise httpcore.ConnectTimeout("timed out in the TLS handshake") from None
        except (ssl.SSLError, OSError) as exc:
            self._transport.abort()
            raise httpcore.ConnectError(str(exc)) from exc
        if transport is None:  # the connection closed during the handshake
            raise httpcore.ConnectError("the connection closed during the TLS handshake")
        assert isinstance(transport, asyncio.Transport)
        self._protocol.transport = transport
        return Stream(transport, self._protocol)

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":  # what httpcore asks of an idle connection: closed by now?
            protocol = self._protocol
            return bool(protocol.buffer) or protocol.eof
        if info == "ssl_object":
            return self._transport.get_extra_info("ssl_object")
        if info == "client_addr":
            return self._transport.get_extra_info("sockname")
        if info == "server_addr":
            return self._transport.get_extra_info("peername")
        if info == "socket":
            return self._transport.get_extra_info("socket")
        return None


async def _wait(protocol: _Protocol, timeout: float | None) -> None:
    """Until the protocol has news (data, end, error); ``ReadTimeout`` after ``timeout``."""
    loop = asyncio.get_running_loop()
    waiter = protocol.waiter = loop.create_future()
    timer = None if timeout is None else loop.call_later(timeout, _expire, waiter)
    try:
        await waiter
    finally:
        if timer is not None:
            timer.cancel()
        if protocol.waiter is waiter:
            protocol.waiter = None


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(httpcore.ReadTimeout("timed out reading the response"))


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    """TCP connections on the running asyncio loop (TCP_NODELAY is asyncio's default)."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        local = None if local_address is None else (local_address, 0)
        try:
            async with asyncio.timeout(timeout):
                transport, protocol = await loop.create_connection(
                    _Protocol, host, port, local_addr=local
                )
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"timed out connecting to {host}:{port}") from None
        # UnicodeError and OverflowError: a name or port no socket takes (a URL stored before
        # such URLs were refused) fails the attempt like a refused connection
        except (OSError, UnicodeError, OverflowError) as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        assert isinstance(transport, asyncio.Transport)
        sock = transport.get_extra_info("socket")
        try:
            for option in socket_options or ():
                sock.setsockopt(*option)
        except OSError as exc:
            transport.abort()
            raise httpcore.ConnectError(str(exc)) from exc
        return Stream(transport, protocol)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("webhooks are sent over TCP only")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
