"""A small webhook receiver for demos and tests: records every request, answers as told.

    with Receiver() as receiver:             # a free port on 127.0.0.1
        receiver.fail(2, status=500)         # the next two requests get 500
        receiver.hang(2.0)                   # the one after that waits 2 s before answering
        ...                                  # receiver.url, receiver.requests

Threaded ``http.server`` with HTTP/1.1 keep-alive: fine for checking behaviour, not for
measuring throughput (``bench/delivery.py`` has a faster one).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any


@dataclass(frozen=True, slots=True, kw_only=True)
class Received:
    """One request as the receiver saw it; header names are lower-case."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float
    """``time.monotonic()`` when the request arrived."""
    client_port: int = 0
    """The sender's port: the same for requests over one kept-alive connection."""

    @property
    def message_id(self) -> str | None:
        return self.headers.get("norce-event-message-id") or self.headers.get("webhook-id")


class _QuietServer(ThreadingHTTPServer):
    request_queue_size = 256  # the default 5 drops SYNs of a burst: clients then wait 1 s
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hung up on a hanging answer is expected, not news


@dataclass(frozen=True, slots=True, kw_only=True)
class _Answer:
    status: int = 200
    hang: float = 0.0
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b"ok"


class Receiver:
    """A local HTTP server that records requests; start with ``with`` or ``start()``."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.requests: list[Received] = []
        self.answered = 0
        """Requests answered so far (a hanging one is not, until it is released)."""
        self.most_in_flight = 0
        """The most requests it held at once, between arriving and being answered."""
        self._in_flight = 0
        self._plan: deque[_Answer] = deque()
        self._lock = threading.Condition()
        self._released = threading.Event()
        self.on_request: Callable[[Received], None] | None = None
        self.echo_header: str | None = None
        """When set, answers end with this request header's value (to test log redaction)."""
        self._server = _QuietServer((host, port), self._handler())
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/"

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> Receiver:
        self._thread.start()
        return self

    def close(self) -> None:
        self._released.set()  # wake hanging handlers so the server can stop
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def fail(
        self,
        times: int,
        *,
        status: int = 500,
        headers: dict[str, str] | None = None,
        body: bytes = b"failing",
    ) -> None:
        """Answer the next ``times`` requests with ``status`` (and ``headers``, ``body``)."""
        answer = _Answer(status=status, headers=tuple((headers or {}).items()), body=body)
        with self._lock:
            self._plan.extend([answer] * times)

    def hang(self, seconds: float, *, times: int = 1) -> None:
        """Keep the next ``times`` requests waiting ``seconds`` before answering 200."""
        with self._lock:
            self._plan.extend([_Answer(hang=seconds)] * times)

    def release(self) -> None:
        """Let every hanging request answer now, and any later one at once."""
        self._released.set()

    def wait_for(self, count: int, *, timeout: float = 10.0) -> list[Received]:
        """Block until ``count`` requests have arrived; ``TimeoutError`` otherwise."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self.requests) >= count, timeout=timeout):
                raise TimeoutError(f"{len(self.requests)} of {count} requests after {timeout} s")
            return list(self.requests)

    def wait_answered(self, count: int, *, timeout: float = 10.0) -> None:
        """Block until ``count`` requests have been answered; ``TimeoutError`` otherwise."""
        with self._lock:
            if not self._lock.wait_for(lambda: self.answered >= count, timeout=timeout):
                raise TimeoutError(f"{self.answered} of {count} answered after {timeout} s")

    def _next_answer(self, request: Received) -> _Answer:
        with self._lock:
            self.requests.append(request)
            self._in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self._in_flight)
            self._lock.notify_all()
            return self._plan.popleft() if self._plan else _Answer()

    def _done(self, *, answered: bool) -> None:
        with self._lock:
            self._in_flight -= 1
            self.answered += answered
            self._lock.notify_all()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # The head and the body go out in two writes; with Nagle on, the body waits for
            # the client's delayed ACK (~40 ms), capping each connection at ~25 requests/s.
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                request = Received(
                    method="POST",
                    path=self.path,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                    at=time.monotonic(),
                    client_port=int(self.client_address[1]),
                )
                answer = receiver._next_answer(request)
                answered = False
                try:
                    self._answer(request, answer)
                    answered = True
                finally:
                    receiver._done(answered=answered)

            def _answer(self, request: Received, answer: _Answer) -> None:
                if receiver.on_request is not None:
                    receiver.on_request(request)
                if answer.hang:
                    receiver._released.wait(answer.hang)
                self.send_response(answer.status)
                for name, value in answer.headers:
                    self.send_header(name, value)
                body = answer.body
                if receiver.echo_header:
                    body += b" " + request.headers.get(receiver.echo_header, "").encode()
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                self.wfile.flush()

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the receiver records; it does not chatter on stderr

        return Handler
