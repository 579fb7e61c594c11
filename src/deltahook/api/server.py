"""How ``deltahook serve`` runs the app on uvicorn, with the two guards uvicorn lacks.

uvicorn's h11 protocol bounds the header block's size (``h11_max_incomplete_event_size``) but
answers an oversized one 400 and closes at once, with the rest of the block unread: the
client's kernel may then drop the answer on the reset. And nothing bounds the time a client
takes to send its headers (``timeout_keep_alive`` only runs between requests, before the first
byte), so one that stalls mid-headers holds its connection for ever (slowloris).

``GuardedH11Protocol`` answers a header block over ``api_max_header_bytes`` 431, and one not
complete ``api_header_timeout_s`` after the connection opened (or the last answer ended) 408;
both close gracefully: the answer is sent and the write side shut, then what the client still
sends is read and dropped for at most ``LINGER_S`` (as nginx's lingering close), so the
client reads the answer instead of a reset. Request bodies have their own pace limit
(``limits.BodyPace``).

``Server`` is uvicorn's server, told of a stop requested before its own signal handlers were in
place (``deltahook serve`` records them from the process's start).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from deltahook.api.errors import CODES, ErrorBody
from deltahook.config import Settings

LINGER_S = 2.0
"""How long a refused connection's remaining input is read and dropped before it closes."""


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, with a deadline for each request's headers and a 431 answer.

    ``guarded_protocol`` makes the subclass, holding the limits, that uvicorn instantiates."""

    header_timeout_s = 10.0
    max_header_bytes = 16 << 10
    """The size h11 is told to refuse beyond (``h11_max_incomplete_event_size``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_deadline: asyncio.TimerHandle | None = None
        self._refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_headers()

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # lingering: read and dropped
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:
            self._headers_done()

    def eof_received(self) -> None:
        if self._refused:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._headers_done()
        super().connection_lost(exc)

    def on_response_complete(self) -> None:
        self._await_headers()  # the next request's, if the connection is kept
        super().on_response_complete()
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            self._headers_done()  # closed, or a pipelined request is already in

    def send_400_response(self, msg: str) -> None:
        """h11 refused the request: 431 when its header block is over the size limit."""
        limit = self.max_header_bytes
        if len(self.conn.trailing_data[0]) > limit:  # h11's own test for "too long"
            self._refuse(431, f"the request's header block is larger than {limit:,} bytes")
        else:
            self._refuse(400, "the request is not valid HTTP/1.1")

    def _await_headers(self) -> None:
        self._headers_done()
        self._header_deadline = self.loop.call_later(self.header_timeout_s, self._headers_late)

    def _headers_done(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _headers_late(self) -> None:
        self._header_deadline = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        if not self.conn.trailing_data[0]:
            self.transport.close()  # not a byte of a request: an idle connection ends quietly
            return
        timeout = self.header_timeout_s
        self._refuse(408, f"the request's headers did not arrive within {timeout:g} s")

    def _refuse(self, status: int, message: str) -> None:
        """Answer ``status`` with the API's error body, then close without a reset."""
        self._refused = True
        self._unset_keepalive_if_required()
        self._headers_done()
        body = ErrorBody(error=CODES.get(status, "error"), message=message).model_dump_json()
        head = (
            f"HTTP/1.1 {status} {_REASONS[status]}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
        )
        self.transport.write(head.encode() + body.encode())
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(LINGER_S, self.transport.close)


_REASONS = {400: "Bad Request", 408: "Request Timeout", 431: "Request Header Fields Too Large"}


def guarded_protocol(*, header_timeout_s: float, max_header_bytes: int) -> type[GuardedH11Protocol]:
    """The protocol class for uvicorn, with these limits on every request's headers."""
    limits = {"header_timeout_s": header_timeout_s, "max_header_bytes": max_header_bytes}
    return type("GuardedH11Protocol", (GuardedH11Protocol,), limits)


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's options (``uvicorn.run``, ``uvicorn.Config``) for the guards ``settings`` ask
    for."""
    protocol = guarded_protocol(
        header_timeout_s=settings.api_header_timeout_s,
        max_header_bytes=settings.api_max_header_bytes,
    )
    return {
        "http": protocol,
        "h11_max_incomplete_event_size": protocol.max_header_bytes,
        "server_header": False,
    }


class Server(uvicorn.Server):
    """uvicorn's server, which shuts down as soon as it has started when ``stop_requested()``
    says a stop (SIGINT, SIGTERM) came before its signal handlers were installed: while the
    app was made and the store opened. In-flight requests and the in-process dispatcher end
    as on any shutdown."""

    def __init__(
        self, config: uvicorn.Config, *, stop_requested: Callable[[], bool] = lambda: False
    ) -> None:
        super().__init__(config)
        self._stop_requested = stop_requested

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        with super().capture_signals():
            if self._stop_requested():
                self.should_exit = True
            yield
