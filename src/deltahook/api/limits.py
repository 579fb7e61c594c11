"""Request size limits: a body larger than its limit is answered 413 and never read whole.

Feeds (``POST /v1/feeds/...`` and feed previews) may be as large as ``api_max_feed_bytes``;
every other body as ``api_max_body_bytes``. A declared ``Content-Length`` over the limit is
refused before reading; a body sent without one is counted as it streams in.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from deltahook.api.errors import error_response


class BodyTooLarge(HTTPException):
    """Raised while reading a body that has gone over its limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than the limit of {limit:,} bytes")


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


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
