"""Request limits: a body's size and pace, and how many feed uploads run at once.

Feeds (``POST /v1/feeds/...`` and feed previews) may be as large as ``api_max_feed_bytes``;
every other body as ``api_max_body_bytes``. A declared ``Content-Length`` over the limit is
refused before reading; a body sent without one is counted as it streams in (413).

Every body must bring ``api_body_window_bytes`` (or its end) in each window of
``api_body_window_s`` seconds, else it is answered 408: a stalled or trickling upload ends and
gives back its thread and database connection. At most ``api_max_uploads`` feed uploads run at
once, below the database pool and the worker threads; beyond, 503 with ``Retry-After``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import anyio
from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from deltahook.api.errors import BUSY_RETRY_AFTER_S, error_response
from deltahook.config import Settings

FEED_PATHS = ("/v1/feeds/", "/v1/preview/")
# Database connections the pool keeps besides the uploads', for every other route.
ROUTE_CONNECTIONS = 8


class BodyTooLarge(HTTPException):
    """Raised while reading a body that has gone over its limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than the limit of {limit:,} bytes")


class BodyTooSlow(HTTPException):
    """Raised while reading a body that brought too little in one window of time."""

    def __init__(self, window_s: float, min_bytes: int) -> None:
        super().__init__(
            408,
            f"the request body stalled: it must bring at least {min_bytes:,} bytes "
            f"every {window_s:g} s",
        )


def is_upload(scope: Scope) -> bool:
    """True for a request whose body is a feed (a feed upload or a feed preview)."""
    path = str(scope["path"])
    return scope["method"] == "POST" and path.startswith(FEED_PATHS) and not path.endswith("/pair")


def server_pool_size(settings: Settings) -> int:
    """Database connections a server needs: one per upload, and those of the other routes."""
    return settings.api_max_uploads + ROUTE_CONNECTIONS


class BodyLimit:
    """ASGI middleware enforcing ``limit_for(path)`` on request bodies."""

    def __init__(self, app: ASGIApp, *, limit_for: Callable[[str], int]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await error_response(413, BodyTooLarge(limit).detail)(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, counted, send)


class BodyPace:
    """ASGI middleware: each ``window_s`` of reading a body must bring ``min_bytes`` or its end."""

    def __init__(self, app: ASGIApp, *, window_s: float, min_bytes: int) -> None:
        self.app = app
        self.window_s = window_s
        self.min_bytes = min_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        window = _Window(self.window_s, self.min_bytes)

        async def paced() -> Message:
            while True:
                with anyio.move_on_after(window.left()):
                    message = await receive()
                    window.count(message)
                    return message
                window.close()

        await self.app(scope, paced, send)


class _Window:
    """The bytes a body brought in the current window, and when that window ends."""

    def __init__(self, window_s: float, min_bytes: int) -> None:
        self.window_s = window_s
        self.min_bytes = min_bytes
        self.ends: float | None = None
        self.brought = 0
        self.ended = False  # the body is complete: what is read next is the disconnect

    def left(self) -> float:
        if self.ended:
            return math.inf
        now = anyio.current_time()
        if self.ends is None:
            self.ends = now + self.window_s
        return max(self.ends - now, 0.0)

    def count(self, message: Message) -> None:
        if message["type"] != "http.request":
            return
        self.brought += len(message.get("body", b""))
        if not message.get("more_body", False):
            self.ended = True
            return
        if self.ends is not None and anyio.current_time() >= self.ends:
            self.close()

    def close(self) -> None:
        """End the window: too little brought raises, else the next window starts."""
        if self.brought < self.min_bytes:
            raise BodyTooSlow(self.window_s, self.min_bytes)
        self.ends = anyio.current_time() + self.window_s
        self.brought = 0


class UploadSlots:
    """ASGI middleware: at most ``slots`` feed uploads at once; beyond, 503 and Retry-After."""

    def __init__(self, app: ASGIApp, *, slots: int) -> None:
        self.app = app
        self.slots = slots
        self.busy = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_upload(scope):
            await self.app(scope, receive, send)
            return
        if self.busy >= self.slots:
            message = (
                f"the server is busy: {self.slots} feed uploads are already running; "
                f"try again in {BUSY_RETRY_AFTER_S} s"
            )
            headers = {"Retry-After": str(BUSY_RETRY_AFTER_S)}
            await error_response(503, message, headers=headers)(scope, receive, send)
            return
        self.busy += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.busy -= 1


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
