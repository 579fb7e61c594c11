"""What the routes share: the engine, the settings, the clock, the parameter check, and the
route that reads a JSON body as the command line reads a JSON file."""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

from deltahook.engine import Engine
from deltahook.feeds import values


def engine(request: Request) -> Engine:
    found = request.app.state.engine
    assert isinstance(found, Engine)
    return found


EngineDep = Annotated[Engine, Depends(engine)]
REPEATED_PARAMETER = "given more than once: which of its values is meant?"


def storable_parameters(request: Request) -> None:
    """Refuse (422, naming it) a path or query parameter no store can keep: PostgreSQL cannot
    even compare text holding a NUL, so a lookup by it would fail as if the database did."""
    given = [("path", name, value) for name, value in request.path_params.items()]
    given += [("query", name, value) for name, value in request.query_params.multi_items()]
    found = [(where, name, values.text_problem(str(value))) for where, name, value in given]
    problems = [
        {"loc": (where, name), "msg": reason, "type": "value_error"}
        for where, name, reason in found
        if reason is not None
    ]
    if problems:
        raise RequestValidationError(problems)


def single_query_values(request: Request) -> None:
    """Refuse (422, naming it) a query parameter of the route given more than once: FastAPI
    takes the last, so ``?mode=upsert&mode=full`` ran a full feed."""
    route = request.scope.get("route")
    declared = (
        {p.alias for p in route.dependant.query_params} if isinstance(route, APIRoute) else set()
    )
    given = [name for name, _ in request.query_params.multi_items() if name in declared]
    problems = [
        {"loc": ("query", name), "msg": REPEATED_PARAMETER, "type": "value_error"}
        for name in dict.fromkeys(given)
        if given.count(name) > 1
    ]
    if problems:
        raise RequestValidationError(problems)


_UTF8 = {"utf-8", "utf8", "us-ascii"}  # US-ASCII text is UTF-8 text


def utf8_only(content_type: str, what: str, it: str) -> None:
    """415 for a Content-Type naming another charset: its text would be read as UTF-8 (a
    feed's every record holding a byte past ASCII rejected, one by one)."""
    for parameter in content_type.split(";")[1:]:
        name, _, value = parameter.partition("=")
        charset = value.strip().strip('"').lower()
        if name.strip().lower() == "charset" and charset not in _UTF8:
            raise HTTPException(
                415, f"{what} are read as UTF-8: send {it} as UTF-8, not {charset!r}"
            )


def uncompressed_only(coding: str, what: str, it: str) -> None:
    """415 for a Content-Encoding (gzip, say): its bytes would be read as they came, as
    garbage (RFC 9110 allows 415 for a coding the server does not take)."""
    if coding.strip().lower() not in {"", "identity"}:
        raise HTTPException(
            415,
            f"{what} are read uncompressed: send {it} without Content-Encoding, not {coding!r}",
        )


class _NamesCheckedRequest(Request):
    """A request whose JSON body is read with ``values.loads``, as ``emit`` and ``preview
    --before`` read their file: an object that holds a name twice is a 400 naming it (the
    standard parser keeps the last value and loses the first without a word). Its body is
    UTF-8 and uncompressed, as a feed's is: another charset or a Content-Encoding is a 415."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            utf8_only(self.headers.get("content-type", ""), "JSON bodies", "the body")
            uncompressed_only(self.headers.get("content-encoding", ""), "JSON bodies", "the body")
            body = await self.body()
            try:
                text = body.decode(json.detect_encoding(body))
            except UnicodeDecodeError as exc:
                raise HTTPException(400, f"the body is not UTF-8 (byte {exc.start + 1})") from None
            try:
                self._json = values.loads(text)
            except values.RepeatedName as repeated:
                raise HTTPException(400, f"the body: {repeated.name!r} {values.REPEATED}") from None
        return self._json


class JSONBodyRoute(APIRoute):
    """The route class of every router whose operations take a JSON body."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def checked(request: Request) -> Response:
            return await handler(_NamesCheckedRequest(request.scope, request.receive))

        return checked
