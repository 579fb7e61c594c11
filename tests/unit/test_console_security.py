"""The console's sign-in: session cookie, CSRF tokens, redirects, and nothing secret rendered."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import select

from deltahook.api import create_app
from deltahook.console import ROUTERS
from deltahook.engine import Engine
from deltahook.store.db import open_engine
from deltahook.store.tables import console_signouts
from tests.api_support import AUTH, KEY, settings
from tests.clocks import MovableClock
from tests.console_support import form_token, sign_in


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock(datetime(2026, 11, 30, 6, 0, tzinfo=UTC))


@pytest.fixture
def console(tmp_path: Path, clock: MovableClock) -> Iterator[TestClient]:
    engine = Engine.from_settings(settings(f"sqlite:///{tmp_path / 'db.sqlite'}"), clock=clock)
    with TestClient(create_app(engine.settings, engine=engine), follow_redirects=False) as c:
        yield c
    engine.close()


def console_routes() -> list[tuple[str, str]]:
    """(method, path) of every console route, with path parameters filled in."""
    found = []
    for route in (r for router in ROUTERS for r in router.routes):
        if isinstance(route, APIRoute):
            path = route.path.replace("{name}", "SkuChangedNotification")
            path = path.replace("{delivery_id}", "d-1").replace("{job_id}", "j-1")
            found += [(method, path) for method in sorted(route.methods)]
    return found


def test_every_console_route_without_a_session_redirects_to_sign_in(
    console: TestClient,
) -> None:
    """GET and POST alike answer 303 to the sign-in form, which names where to go back."""
    routes = console_routes()
    assert len(routes) >= 8
    for method, path in [*routes, ("GET", "/"), ("GET", "/docs")]:
        if path.startswith(("/admin/signin", "/admin/static")):
            continue
        answer = console.request(method, path)
        assert answer.status_code == 303, (method, path)
        location = answer.headers["location"]
        assert location.startswith("/admin/signin") or (path == "/" and location == "/admin/")


def test_a_post_without_the_csrf_token_is_refused(console: TestClient) -> None:
    """Signed in, every state-changing console route answers 403 without a token, and with
    a wrong one (another session's) leads back to a page saying nothing was done."""
    token = sign_in(console)
    posts = [p for m, p in console_routes() if m == "POST" and p != "/admin/signin"]
    assert "/admin/signout" in posts
    for path in posts:
        assert console.post(path, data={}).status_code == 403, path
        wrong = console.post(path, data={"csrf": token[:-2] + "xx"}, follow_redirects=True)
        assert "Nothing was done" in wrong.text, path
        assert wrong.url.path == "/admin/", path
    assert console.get("/admin/").status_code == 200  # still signed in


def test_the_session_cookie_is_signed_http_only_strict_and_expiring(
    console: TestClient, clock: MovableClock
) -> None:
    """The cookie carries HttpOnly, SameSite=Strict and a Max-Age, not the key; it stops
    working when it expires, and sign-out clears it."""
    form = console.get("/admin/signin")
    answer = console.post(
        "/admin/signin",
        data={"token": form_token(form.text, "token"), "key": KEY, "next": "/admin/"},
    )
    cookie = next(v for k, v in answer.headers.multi_items() if "deltahook_session=" in v)
    flags = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"httponly", "max-age", "path"} <= flags
    assert "samesite=strict" in cookie.lower()
    assert KEY not in cookie
    assert console.get("/admin/").status_code == 200
    clock.now += timedelta(hours=9)
    assert console.get("/admin/").status_code == 303


def test_the_sign_in_page_of_a_signed_in_user_leads_on(console: TestClient) -> None:
    """Signed in already, the sign-in address leads where signing in would (a bookmark, the
    back button), never off the console."""
    sign_in(console)
    for asked, lands in (("/admin/jobs", "/admin/jobs"), ("https://evil.example/", "/admin/")):
        answer = console.get("/admin/signin", params={"next": asked}, follow_redirects=False)
        assert (answer.status_code, answer.headers["location"]) == (303, lands)


def test_sign_out_clears_the_session(console: TestClient) -> None:
    """After signing out, the console redirects to sign-in again."""
    token = sign_in(console)
    answer = console.post("/admin/signout", data={"csrf": token})
    assert answer.status_code == 303
    assert 'deltahook_session=""' in answer.headers["set-cookie"]
    assert console.get("/admin/").status_code == 303


def test_a_copy_of_the_cookie_opens_nothing_after_sign_out(
    console: TestClient, clock: MovableClock
) -> None:
    """Sign-out ends the session on the server: its cookie, kept or replayed within its 8 h,
    is redirected to sign in; another session of the same key goes on."""
    other = TestClient(console.app, follow_redirects=False)
    sign_in(other)
    token = sign_in(console)
    kept = console.cookies["deltahook_session"]
    assert console.post("/admin/signout", data={"csrf": token}).status_code == 303
    clock.now += timedelta(hours=1)
    console.cookies.clear()
    console.cookies.set("deltahook_session", kept)
    assert console.get("/admin/").status_code == 303
    assert console.post("/admin/signout", data={"csrf": token}).status_code == 303
    assert other.get("/admin/").status_code == 200


def test_sign_outs_are_forgotten_once_their_sessions_expire(
    console: TestClient, clock: MovableClock, tmp_path: Path
) -> None:
    """A recorded sign-out is removed by a later one after its session's expiry: the table
    does not grow with every sign-out ever made."""
    console.post("/admin/signout", data={"csrf": sign_in(console)})
    clock.now += timedelta(hours=9)
    console.post("/admin/signout", data={"csrf": sign_in(console)})
    with open_engine(f"sqlite:///{tmp_path / 'db.sqlite'}").connect() as conn:
        left = conn.execute(select(console_signouts.c.session)).scalars().all()
    assert len(left) == 1


def test_a_forged_cookie_is_no_session(console: TestClient) -> None:
    """A cookie not signed by this server (or tampered with) is ignored."""
    sign_in(console)
    value = console.cookies["deltahook_session"]
    console.cookies.clear()
    console.cookies.set("deltahook_session", value[:-3] + "abc")
    assert console.get("/admin/").status_code == 303


def test_a_wrong_key_gets_a_clear_message_and_is_never_echoed_or_logged(
    console: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    """401 with the form again and a message; the key is neither in the page nor the log."""
    wrong = "not-the-key-but-long-enough-42"
    form = console.get("/admin/signin")
    with caplog.at_level(logging.DEBUG):
        answer = console.post(
            "/admin/signin",
            data={"token": form_token(form.text, "token"), "key": wrong, "next": "/admin/"},
        )
    assert answer.status_code == 401
    assert "not one of the configured API keys" in answer.text
    assert wrong not in answer.text
    assert wrong not in caplog.text
    assert "deltahook_session" not in answer.headers.get("set-cookie", "")


def test_sign_in_needs_the_form_token_and_never_redirects_off_site(console: TestClient) -> None:
    """A sign-in posted without its form's token is refused; ``next`` is only a console path."""
    assert console.post("/admin/signin", data={"key": KEY}).status_code == 403
    form = console.get("/admin/signin")
    answer = console.post(
        "/admin/signin",
        data={"token": form_token(form.text, "token"), "key": KEY, "next": "//evil.test/x"},
    )
    assert answer.headers["location"] == "/admin/"


def test_a_session_is_not_an_api_key(console: TestClient) -> None:
    """Signed in to the console, the /v1 API still wants the bearer key."""
    sign_in(console)
    assert console.get("/v1/subscriptions").status_code == 401
    assert console.get("/v1/subscriptions", headers=AUTH).status_code == 200


def test_pages_forbid_framing_and_foreign_assets(console: TestClient) -> None:
    """Every page says: nothing from elsewhere, no frames, no caching."""
    sign_in(console)
    answer = console.get("/admin/")
    policy = answer.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "frame-ancestors 'none'" in policy
    assert answer.headers["cache-control"] == "no-store"
    assert "http://" not in answer.text.replace("http://127", "")
    assert "https://" not in answer.text


def test_the_api_docs_are_behind_the_sign_in_and_work_offline(console: TestClient) -> None:
    """/docs lists every operation from the OpenAPI document and loads nothing from elsewhere;
    a signed-in browser may read /openapi.json, which otherwise wants the key."""
    assert console.get("/docs").status_code == 303
    assert console.get("/openapi.json").status_code == 401
    sign_in(console)
    html = console.get("/docs").text
    assert "/v1/feeds/{kind}" in html
    assert "/v1/deliveries/{delivery_id}/resend" in html
    assert "https://" not in html
    assert "<script" in html  # the console's own, from /admin/static
    assert 'src="/admin/static/console.js"' in html
    assert console.get("/openapi.json").status_code == 200
