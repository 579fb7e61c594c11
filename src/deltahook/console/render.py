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
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape

from deltahook.console import words
from deltahook.console.auth import Session, same_token
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
    """``template`` rendered with ``context``, the session's CSRF token and the current path."""
    session = session_of(request)
    html = templates.get_template(template).render(
        dispatcher=_liveness(request) if session else None,
        csrf=session.csrf if session else "",
        signed_in=session is not None,
        path=request.url.path,
        notice=request.query_params.get("notice", ""),
        **context,
    )
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


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


async def checked_form(request: Request) -> dict[str, str]:
    """The posted form's fields; 403 unless it carries the session's CSRF token."""
    body = await request.body()
    fields = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    session = session_of(request)
    if session is None or not same_token(fields.get("csrf"), session.csrf):
        raise HTTPException(403, "the form's CSRF token is missing or stale: reload the page")
    return fields


def deliveries(count: int) -> str:
    """``1 failed delivery``, ``2 failed deliveries``: for notices."""
    return f"{count:,} failed {'delivery' if count == 1 else 'deliveries'}"


def back(fields: dict[str, str], default: str, **notice: str) -> str:
    """Where to go after a form: its ``back`` field when it is a console path, else
    ``default``; ``notice`` is shown there once."""
    target = fields.get("back", "")
    if not target.startswith("/admin/") or target.startswith("//"):
        target = default
    if notice:
        target += ("&" if "?" in target else "?") + urlencode(notice)
    return target
