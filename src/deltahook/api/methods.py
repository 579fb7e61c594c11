"""HEAD wherever GET works, and the ``Allow`` header of a 405 that says so.

FastAPI's routes answer only the methods they are declared with, so ``HEAD`` on a ``GET``
route was a 405 (only Starlette's own routes, ``/openapi.json``, added it). RFC 9110 asks a
server that answers GET to answer HEAD the same, without the body: clients check links and
sizes with it, load balancers their backends. ``HeadAsGet`` runs every ``HEAD`` request as a
``GET`` through the whole app (key check, console sign-in, routing, errors), so its status
and headers (``Content-Length`` included) are GET's, and drops the body it sends. HEAD is not
in the OpenAPI document: it is implied by GET.
"""

from __future__ import annotations

from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

METHODS = ("DELETE", "GET", "HEAD", "PATCH", "POST", "PUT")
"""The methods a 405's ``Allow`` may name (those routes are declared with, and HEAD)."""


class HeadAsGet:
    """ASGI middleware: a HEAD request is handled as GET; its answer is sent without a body."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return  # one empty body message ends the answer
                message = {"type": "http.response.body", "body": b""}
            await send(message)

        # The server keeps its own scope, with HEAD: it sends no body and keeps the length.
        await self.app({**scope, "method": "GET"}, receive, headers_only)


def allowed(routes: list[BaseRoute], scope: Scope) -> str:
    """Every method some route of the request's path answers, for ``Allow`` (Starlette's 405
    names only the first matching route's): HEAD wherever GET is."""
    found = {
        method
        for method in METHODS
        if any(r.matches({**scope, "method": method})[0] is Match.FULL for r in routes)
    }
    if "GET" in found:
        found.add("HEAD")
    return ", ".join(method for method in METHODS if method in found)
