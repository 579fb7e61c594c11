"""Helpers for the console's tests: sign in over a TestClient, read a form's CSRF token."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from deltahook.console.auth import SESSION_COOKIE
from tests.api_support import KEY


def form_token(html: str, name: str = "csrf") -> str:
    found = re.search(rf'name="{name}" value="([^"]+)"', html)
    assert found, f"no {name} field in the page"
    return found.group(1)


def sign_in(client: TestClient, key: str = KEY) -> str:
    """Sign ``client`` in with ``key``, as after its session ended (a signed-in browser is
    led past the form); returns the new session's CSRF token."""
    client.headers.pop("Authorization", None)
    client.cookies.delete(SESSION_COOKIE)
    form = client.get("/admin/signin")
    answer = client.post(
        "/admin/signin",
        data={"token": form_token(form.text, "token"), "key": key, "next": "/admin/"},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    return form_token(client.get("/admin/").text)
