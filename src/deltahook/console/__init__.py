"""The admin console: server-rendered pages at ``/admin/`` over the services the API uses.

``install(app, keys=..., engine=...)`` adds its routes and the sign-in gate to the API's app
(``deltahook.api.create_app`` does it); ``/`` redirects to ``/admin/``.
"""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import FastAPI

from deltahook.console import docs, home, logtab, manage, ops, settings, types
from deltahook.console.auth import ConsoleGate, Sessions, session_opens
from deltahook.engine import Engine

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
    """Mount the console's pages; add the gate after the API's key check so it runs first."""
    sessions = Sessions(keys, clock=engine.clock)
    app.state.sessions = sessions
    for router in ROUTERS:
        app.include_router(router)
    app.add_middleware(ConsoleGate, sessions=sessions)
