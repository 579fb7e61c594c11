"""A request's path and query must be UTF-8, percent-encoded as RFC 3986 says: else 400.

Servers decode a path leniently: uvicorn turns ``%FF`` (and an overlong form such as
``%C0%AF``, a ``/`` in disguise) into U+FFFD and keeps ``%zz`` as it came, and Starlette reads
a query the same way. A route then looked up a name the client never sent (``/v1/subscriptions/
%FF`` found one named U+FFFD), and a parameter lost what it held without a word. ``WellFormed``
refuses such a request before it is routed, with a 400 that says what is wrong and where.
"""

from __future__ import annotations

import re
from urllib.parse import unquote_to_bytes

from fastapi import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

_BAD_ESCAPE = re.compile(rb"%(?![0-9A-Fa-f]{2}).{0,2}", re.DOTALL)


def target_problem(raw_path: bytes | None, query: bytes) -> str | None:
    """Why a request's path (as sent, ``raw_path``) or query cannot be read, or ``None``."""
    for part, raw in (("path", raw_path), ("query", query)):
        if raw is None:
            continue  # a server that does not say how the path was sent: nothing to judge
        if (escape := _BAD_ESCAPE.search(raw)) is not None:
            sent = escape.group().decode("ascii", "replace")
            return f"the {part} holds {sent!r}: a '%' must begin two hex digits (write '%' as %25)"
        decoded = unquote_to_bytes(raw)
        try:
            decoded.decode("utf-8")
        except UnicodeDecodeError as exc:
            bad = "".join(f"%{byte:02X}" for byte in decoded[exc.start : exc.end])
            return (
                f"the {part} holds {bad}, which is not UTF-8 once percent-decoded: "
                "percent-encode the UTF-8 bytes of each character"
            )
    return None


class WellFormed:
    """ASGI wrapper of the router: a request whose path or query ``target_problem`` refuses
    raises a 400, which the app's handlers answer (as JSON, or a console page)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            problem = target_problem(scope.get("raw_path"), scope.get("query_string", b""))
            if problem is not None:
                raise HTTPException(400, f"the request's address cannot be read: {problem}")
        await self.app(scope, receive, send)
