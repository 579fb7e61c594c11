"""Sign-in, sign-out, the landing page (Integration events) and the console's static files."""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta
from importlib.resources import files
from typing import Any
from urllib.parse import parse_qsl

import anyio.to_thread
from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import RedirectResponse

from deltahook.api.deps import EngineDep
from deltahook.api.routes.catalog import events_of
from deltahook.console import words
from deltahook.console.auth import (
    SESSION_COOKIE,
    SESSION_TTL,
    SIGNIN,
    SIGNIN_COOKIE,
    same_token,
)
from deltahook.console.render import (
    SECURITY_HEADERS,
    UNSAVED,
    checked_form,
    leave_flash,
    page,
    session_of,
    sessions_of,
)
from deltahook.delivery import stats
from deltahook.delivery import subscriptions as subs
from deltahook.delivery.status import FAILED
from deltahook.engine import Engine
from deltahook.rules.model import RuleSet
from deltahook.store import signouts
from deltahook.store.db import reading
from deltahook.type_usage import event_types

router = APIRouter(prefix="/admin", include_in_schema=False)
logger = logging.getLogger("deltahook.console")
CATEGORIES = ("Customer", "Order", "Product", "Supplier", "System")
STATIC = {"console.css": "text/css", "console.js": "text/javascript"}
RECENT = timedelta(hours=24)


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


@router.get("/signin")
def signin_form(request: Request, next: str = "/admin/", unsaved: bool = False) -> Response:
    """The sign-in form, with a token in a short-lived cookie against login CSRF; signed in
    already, the page it would lead to. ``unsaved``: a form was posted once the session had
    ended; the form says nothing was done, and so does its page once signed in."""
    if session_of(request) is not None:
        return RedirectResponse(_local(next), status_code=303)
    return _signin_page(request, next=_local(next), unsaved=unsaved)


def _signin_page(
    request: Request, *, next: str, unsaved: bool, error: str = "", status: int = 200
) -> Response:
    """The form and its token cookie. A token still in the cookie is kept (and its ten
    minutes start again): another tab's sign-in form, opened since, must not make this
    one's stale."""
    token = request.cookies.get(SIGNIN_COOKIE) or secrets.token_urlsafe(32)
    response = page(
        request,
        "signin.html",
        status=status,
        token=token,
        next=next,
        unsaved=unsaved,
        error=error,
    )
    response.set_cookie(
        SIGNIN_COOKIE,
        token,
        max_age=600,
        path=SIGNIN,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )
    return response


@router.post("/signin")
async def signin(request: Request) -> Response:
    """A known key starts a session; a wrong one gets the form again, the key not echoed,
    and so does a form whose token ran out (reloading its answer would post it again)."""
    body = await request.body()
    fields = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    target = _local(fields.get("next", "/admin/"))
    unsaved = fields.get("unsaved") == "1"
    if not same_token(fields.get("token"), request.cookies.get(SIGNIN_COOKIE, "\0")):
        error = "The sign-in form had expired: sign in again."
        return _signin_page(request, next=target, unsaved=unsaved, error=error, status=403)
    sessions = sessions_of(request)
    key = fields.get("key", "")
    if not sessions.known(key):
        client = request.client.host if request.client else "?"
        logger.warning("console sign-in refused from %s", client)
        message = "That key is not one of the configured API keys."
        return page(
            request,
            "signin.html",
            status=401,
            token=fields.get("token"),
            next=target,
            unsaved=unsaved,
            error=message,
        )
    session, value = sessions.start(key)
    response = RedirectResponse(target, status_code=303)
    if unsaved:
        leave_flash(request, response, session, {"notice": UNSAVED})
    response.set_cookie(
        SESSION_COOKIE,
        value,
        max_age=int(SESSION_TTL.total_seconds()),
        path="/",
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )
    response.delete_cookie(SIGNIN_COOKIE, path=SIGNIN)
    return response


@router.post("/signout")
async def signout(request: Request, engine: EngineDep) -> Response:
    """End the session: recorded in the store (a copy of the cookie opens nothing more), and
    its cookie cleared."""
    await checked_form(request)
    session = session_of(request)
    assert session is not None  # checked_form vouched for it

    def end() -> None:
        with engine.db.begin() as conn:
            signouts.end(conn, session.id, expires=session.expires, now=engine.clock())

    await anyio.to_thread.run_sync(end)
    response = RedirectResponse(SIGNIN, status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response


@router.get("/static/{name}")
def static(name: str) -> Response:
    if name not in STATIC:
        raise HTTPException(404, "no such file")
    content = files("deltahook.console").joinpath("static", name).read_bytes()
    headers = SECURITY_HEADERS | {"Cache-Control": "max-age=300"}
    return Response(content, media_type=STATIC[name], headers=headers)


@router.get("/")
def integration_events(request: Request, engine: EngineDep) -> Response:
    """Active event types above inactive ones, by category, with the last 24 h figures."""
    rows = type_rows(engine)
    groups = {
        state: [
            (c, [r for r in rows if r["active"] == active and r["category"] == c])
            for c in _categories(rows)
        ]
        for state, active in (("active", True), ("inactive", False))
    }
    return page(request, "types.html", groups=groups, counts=sum(r["active"] for r in rows))


def type_rows(engine: Engine) -> list[dict[str, Any]]:
    """Every event type as the API lists it, plus its last-24-hour delivery figures."""
    with reading(engine.db) as conn:
        stored = subs.load(conn)
        rows = event_types(events_of(engine), engine.rules or RuleSet(()), stored)
        figures = stats.by_type(conn, [r["type"] for r in rows], since=engine.clock() - RECENT)
    for row in rows:
        counts = figures.get(row["type"], {})
        row["recent"] = {status.value: counts.get(status, 0) for status in words.RECENT}
        row["warning"] = any(row["recent"][status] for status in FAILED)
    return rows


def _categories(rows: list[dict[str, Any]]) -> list[str]:
    seen = {r["category"] for r in rows}
    return [c for c in CATEGORIES if c in seen] + sorted(seen - set(CATEGORIES))


def _local(target: str) -> str:
    """Only a console path may be a redirect target (never another site)."""
    return target if target.startswith("/admin/") and not target.startswith("//") else "/admin/"
