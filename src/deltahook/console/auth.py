"""Sign-in for the console: a signed session cookie, a CSRF token, and the gate in front.

A user signs in with one of the API keys. The answer is a cookie signed with a secret derived
from the configured keys (so every server process with the same keys accepts it, and changing
the keys signs everyone out) holding the key's fingerprint, a CSRF token and an expiry: never
the key. The cookie is ``HttpOnly`` and ``SameSite=Strict``, and ``Secure`` over HTTPS.
Signing out records the session in the store (``store/signouts.py``): a copy of its cookie
opens nothing afterwards, in any process.

Every console path (``/``, ``/admin/...``, ``/docs``) without a valid session is redirected
to the sign-in form (a form posted meanwhile leads back to its page, with a notice that
nothing was done: it is never posted again, and what was typed in it is not kept, since
header values and secrets may be among it); every POST carries the session's CSRF token in
a form field (``check_csrf``). The sign-in form has its own token in a short-lived cookie.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

import anyio.to_thread
from itsdangerous import BadSignature, URLSafeSerializer
from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from deltahook.api.security import fingerprint, key_digest, key_known

SESSION_COOKIE = "deltahook_session"
FLASH_COOKIE = "deltahook_flash"  # what a form's redirect says on the page it leads to
SIGNIN_COOKIE = "deltahook_signin"
SESSION_TTL = timedelta(hours=8)
SIGNIN = "/admin/signin"
OPEN = ("/admin/static/", SIGNIN)
CONSOLE = ("/admin", "/docs")
ICON = "/favicon.ico"


@dataclass(frozen=True, slots=True, kw_only=True)
class Session:
    """Who signed in (a key's fingerprint), the CSRF token of their forms, and until when."""

    key: str
    csrf: str
    expires: datetime

    @property
    def id(self) -> str:
        """What the store knows a signed-out session by (a digest: the token stays secret)."""
        return hashlib.sha256(self.csrf.encode()).hexdigest()


class Sessions:
    """Makes and reads session cookies; keys are compared by digest, in constant time."""

    def __init__(self, keys: Sequence[str], *, clock: Callable[[], datetime]) -> None:
        digests = sorted(key_digest(k) for k in keys)
        secret = hashlib.sha256(b"deltahook-console\0" + b"".join(digests)).hexdigest()
        self._serializer = URLSafeSerializer(secret, salt="deltahook-console-session")
        self._flashes = URLSafeSerializer(secret, salt="deltahook-console-flash")
        self._digests = digests
        self._fingerprints = frozenset(fingerprint(k) for k in keys)
        self.clock = clock

    def known(self, key: str) -> bool:
        return key_known(key, self._digests)

    def start(self, key: str) -> tuple[Session, str]:
        """A new session for a known ``key`` and its cookie value."""
        session = Session(
            key=fingerprint(key),
            csrf=secrets.token_urlsafe(32),
            expires=self.clock() + SESSION_TTL,
        )
        value = {"k": session.key, "c": session.csrf, "e": session.expires.timestamp()}
        return session, self._serializer.dumps(value)

    def read(self, cookie: str | None) -> Session | None:
        """The session a cookie holds, or None when it is missing, forged, stale or expired."""
        if not cookie:
            return None
        try:
            value: Any = self._serializer.loads(cookie)
            session = Session(
                key=str(value["k"]),
                csrf=str(value["c"]),
                expires=datetime.fromtimestamp(float(value["e"]), tz=self.clock().tzinfo),
            )
        except (BadSignature, KeyError, TypeError, ValueError):
            return None
        if session.expires <= self.clock() or session.key not in self._fingerprints:
            return None
        return session

    def flash(self, session: Session, content: dict[str, Any]) -> str:
        """A flash cookie's value: ``content`` signed and bound to ``session``, so that only
        the console writes what a page says (not a link's query string)."""
        return self._flashes.dumps({"s": session.id, "v": content})

    def read_flash(self, session: Session | None, cookie: str | None) -> dict[str, Any]:
        """What a flash cookie holds for ``session``; empty when it is missing, forged or
        another session's."""
        if session is None or not cookie:
            return {}
        try:
            value: Any = self._flashes.loads(cookie)
        except BadSignature:
            return {}
        if not isinstance(value, dict) or value.get("s") != session.id:
            return {}
        content = value.get("v")
        return content if isinstance(content, dict) else {}


def same_token(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def is_console(path: str) -> bool:
    return path == "/" or path.startswith(CONSOLE)


def cookie(scope: Scope, name: str) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == b"cookie":
            text: str = value.decode("latin-1")
            for part in text.split(";"):
                found, _, content = part.strip().partition("=")
                if found == name:
                    return content
    return None


class ConsoleGate:
    """ASGI middleware: a console path needs a session, else it is redirected to sign in.

    The session (or None) is left in ``scope["state"]["session"]``. ``GET /openapi.json``
    is also served to a session, for the docs page; the rest of the API wants its key.
    """

    def __init__(self, app: ASGIApp, *, sessions: Sessions, ended: Callable[[str], bool]) -> None:
        self.app = app
        self.sessions = sessions
        self.ended = ended  # whether a session id was signed out (a database read)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        session = self.sessions.read(cookie(scope, SESSION_COOKIE))
        if session is not None and await anyio.to_thread.run_sync(self.ended, session.id):
            session = None
        scope.setdefault("state", {})["session"] = session
        if path == "/":
            await RedirectResponse("/admin/", status_code=303)(scope, receive, send)
            return
        if path == ICON:  # asked by the browser of any page it shows (a JSON document too)
            await Response(status_code=204)(scope, receive, send)
            return
        if is_console(path) and session is None and not path.startswith(OPEN):
            where = f"{SIGNIN}?next={quote(comeback(scope), safe='')}"
            if scope.get("method") not in ("GET", "HEAD"):
                where += "&unsaved=1"  # a form was posted: nothing it asked is done
            await RedirectResponse(where, status_code=303)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def comeback(scope: Scope) -> str:
    """Where signing in leads back to: the page asked for, or, for a form posted once the
    session ended, the console page the form was on (its action answers POST only)."""
    if scope.get("method") in ("GET", "HEAD"):
        query = scope.get("query_string", b"").decode("latin-1")
        path: str = scope["path"]
        return path + (f"?{query}" if query else "")
    referer = urlsplit(header(scope, b"referer") or "")
    page = referer.path + (f"?{referer.query}" if referer.query else "")
    return page if page.startswith("/admin/") else "/admin/"


def header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            found: str = value.decode("latin-1")
            return found
    return None


def session_opens(scope: Scope) -> bool:
    """Whether the console's gate vouches for this request (the API's key check steps aside)."""
    path = scope["path"]
    if is_console(path):
        return True
    signed_in = scope.get("state", {}).get("session") is not None
    return signed_in and path == "/openapi.json" and scope.get("method") == "GET"
