"""Pages from the Jinja2 templates shipped in the package, and the forms they post back.

Templates are autoescaped. Every page gets the session's CSRF token for its forms and is
answered with headers that keep it out of caches and frames and let it load nothing but its
own stylesheet and script.
"""

from __future__ import annotations

from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, urlencode

import orjson
from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape

from deltahook.console import words
from deltahook.console.auth import FLASH_COOKIE, Session, Sessions, comeback, same_token
from deltahook.delivery import heartbeat
from deltahook.store.db import reading

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; connect-src 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def _when(value: datetime | None) -> str:
    if value is None:
        return "—"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _pretty(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()


def _query(base: dict[str, Any], **changes: Any) -> str:
    """The query string of ``base`` with ``changes``, dropping empty values."""
    merged = {k: v for k, v in (base | changes).items() if v not in (None, "")}
    return urlencode(merged)


templates = Environment(
    loader=PackageLoader("deltahook.console", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
templates.filters["when"] = _when
templates.filters["pretty"] = _pretty
templates.globals["query"] = _query
words.install(templates.globals)


def session_of(request: Request) -> Session | None:
    found = request.scope.get("state", {}).get("session")
    return found if isinstance(found, Session) else None


def page(request: Request, template: str, *, status: int = 200, **context: Any) -> HTMLResponse:
    """``template`` rendered with ``context``, the session's CSRF token, the current path and
    the notice a form's redirect left (``redirect``), which it shows once."""
    session = session_of(request)
    html = templates.get_template(template).render(
        dispatcher=_liveness(request) if session else None,
        csrf=session.csrf if session else "",
        signed_in=session is not None,
        path=request.url.path,
        notice=str(flashed(request).get("notice", "")),
        **context,
    )
    response = HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)
    if FLASH_COOKIE in request.cookies:
        response.delete_cookie(FLASH_COOKIE, path="/admin", httponly=True, samesite="strict")
    return response


def flashed(request: Request) -> dict[str, Any]:
    """What the last form's redirect left for this page (``redirect``): a notice, a result."""
    return sessions_of(request).read_flash(session_of(request), request.cookies.get(FLASH_COOKIE))


def sessions_of(request: Request) -> Sessions:
    """The console's sessions (and their flash cookies), made with the app."""
    sessions = request.app.state.sessions
    assert isinstance(sessions, Sessions)
    return sessions


FLASH_BYTES = 3800
"""The most a flash cookie may take (browsers keep about 4,096 bytes of a cookie)."""


def flash_fits(request: Request, flash: dict[str, Any]) -> bool:
    """Whether ``flash`` signed for this session fits in a cookie a browser keeps."""
    session = session_of(request)
    return session is None or len(sessions_of(request).flash(session, flash)) <= FLASH_BYTES


def redirect(request: Request, target: str, **flash: Any) -> RedirectResponse:
    """303 to ``target``, the page that shows ``flash`` (a notice, a result) once: carried in
    a cookie signed for this session, so a link cannot make a page say anything."""
    response = RedirectResponse(target, status_code=303)
    session = session_of(request)
    if session is not None and flash:
        leave_flash(request, response, session, flash)
    return response


def leave_flash(
    request: Request, response: Response, session: Session, flash: dict[str, Any]
) -> None:
    """Set the cookie that makes the next page of ``session`` show ``flash`` once."""
    response.set_cookie(
        FLASH_COOKIE,
        sessions_of(request).flash(session, flash),
        path="/admin",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


KEPT_HEADERS = ("allow", "location", "retry-after")
"""Headers of an error answer its page keeps (what the status means depends on them)."""


def error_page(request: Request, answer: Response) -> Response:
    """A console path's error answer (the API's JSON ``ErrorBody``) as a page a browser shows.

    It asks the store nothing (the error may be that the store does not answer)."""
    message = orjson.loads(bytes(answer.body)).get("message", "") if answer.body else ""
    session = session_of(request)
    html = templates.get_template("error.html").render(
        status=answer.status_code,
        title=HTTPStatus(answer.status_code).phrase,
        message=message,
        csrf=session.csrf if session else "",
        signed_in=session is not None,
        path=request.url.path,
    )
    headers = {k: v for k, v in answer.headers.items() if k in KEPT_HEADERS}
    return HTMLResponse(html, answer.status_code, headers=SECURITY_HEADERS | headers)


def _liveness(request: Request) -> heartbeat.Liveness:
    engine = request.app.state.engine
    with reading(engine.db) as conn:
        found: heartbeat.Liveness = heartbeat.liveness(conn, now=engine.clock())
    return found


class StaleForm(Exception):
    """A form posted without this session's CSRF token: one from a page opened before the
    user signed in again (in another tab, say). Nothing is done (``stale_form``)."""


STALE = "Nothing was done: that page was opened before you last signed in. Here it is again."
UNSAVED = "Nothing was done: your session had ended when the form was sent. Here is its page again."


async def checked_form(request: Request) -> dict[str, str]:
    """The posted form's fields; 403 without a CSRF token, ``StaleForm`` with another
    session's."""
    body = await request.body()
    fields = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    session, token = session_of(request), fields.get("csrf")
    if session is None or token is None:  # not a console form: they all carry one
        raise HTTPException(403, "the form's CSRF token is missing")
    if not same_token(token, session.csrf):
        raise StaleForm()
    return fields


def stale_form(request: Request, exc: Exception) -> Response:
    """Back to the page the form was on, fresh (its forms now carry this session's token),
    saying nothing was done: a reload of an error page would post the stale form again."""
    return redirect(request, comeback(request.scope), notice=STALE)


def deliveries(count: int, state: str = "failed") -> str:
    """``1 failed delivery``, ``2 failed deliveries`` (or another ``state``): for notices."""
    return f"{count:,} {state} {'delivery' if count == 1 else 'deliveries'}"


def back(fields: dict[str, str], default: str) -> str:
    """Where to go after a form: its ``back`` field when it is a console path, else
    ``default``."""
    target = fields.get("back", "")
    if not target.startswith("/admin/") or target.startswith("//"):
        target = default
    return target
