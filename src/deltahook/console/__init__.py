"""The admin console: server-rendered pages at ``/admin/`` over the services the API uses.

``install(app, keys=..., engine=...)`` adds its routes and the sign-in gate to the API's app
(``deltahook.api.create_app`` does it); ``/`` redirects to ``/admin/``.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any

from fastapi import FastAPI, Request, Response

from deltahook.console import docs, home, logtab, manage, ops, settings, types
from deltahook.console.auth import ConsoleGate, Sessions, is_console, session_opens
from deltahook.console.render import StaleForm, error_page, stale_form
from deltahook.engine import Engine
from deltahook.store import signouts
from deltahook.store.db import reading

__all__ = ["ROUTERS", "install", "session_opens"]
ROUTERS = (
    home.router,
    types.router,
    settings.router,
    logtab.router,
    manage.router,  # before ops: /subscriptions/new is not a name
    ops.router,
    docs.router,
)


def install(app: FastAPI, *, keys: Sequence[str], engine: Engine) -> None:
    """Mount the console's pages; add the gate after the API's key check so it runs first.

    Call it after the API's error handlers are installed: on a console path their JSON
    answers become pages (a stale form, an unknown job or type).
    """
    sessions = Sessions(keys, clock=engine.clock)
    app.state.sessions = sessions
    for router in ROUTERS:
        app.include_router(router)
    for cls, handler in list(app.exception_handlers.items()):
        app.add_exception_handler(cls, _as_page(handler))
    app.add_exception_handler(StaleForm, stale_form)
    app.add_middleware(ConsoleGate, sessions=sessions, ended=partial(_signed_out, engine))


def _signed_out(engine: Engine, session: str) -> bool:
    with reading(engine.db) as conn:
        return signouts.ended(conn, session)


def _as_page(handler: Callable[[Request, Exception], Any]) -> Callable[..., Awaitable[Response]]:
    async def answer(request: Request, exc: Exception) -> Response:
        found = handler(request, exc)
        response: Response = await found if inspect.isawaitable(found) else found
        if request.scope["type"] != "http" or not is_console(request.url.path):
            return response
        return error_page(request, response) if response.status_code >= 400 else response

    return answer
