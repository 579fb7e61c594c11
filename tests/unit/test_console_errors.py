"""A console page that fails says so as a page, with its status: never the API's raw JSON."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from deltahook.api import create_app
from deltahook.engine import Engine
from tests.api_support import AUTH, settings
from tests.console_support import sign_in


@pytest.fixture
def console(tmp_path: Path) -> Iterator[TestClient]:
    engine = Engine.from_settings(settings(f"sqlite:///{tmp_path / 'db.sqlite'}"))
    with TestClient(create_app(engine.settings, engine=engine), follow_redirects=False) as c:
        yield c
    engine.close()


@pytest.mark.parametrize(
    ("method", "path", "status", "says"),
    [
        ("GET", "/admin/types/NoSuchType", 404, "unknown event type"),  # a mistyped address
        ("GET", "/admin/jobs/no-such-job", 404, "no ingest job"),  # a stale link
        ("POST", "/admin/types/SkuChangedNotification/try", 403, "CSRF token is missing"),  # forged
        ("GET", "/admin/types/a%00b", 422, "NUL"),  # what no store can keep
        ("GET", "/admin/types/%FF", 400, "not UTF-8"),  # an address no client should send
        ("PUT", "/admin/jobs", 405, "Method Not Allowed"),
    ],
)
def test_a_failing_console_page_is_a_page(
    console: TestClient, method: str, path: str, status: int, says: str
) -> None:
    """The status stays; the body is the console's page with the message and a way back."""
    sign_in(console)
    answer = console.request(method, path)
    assert answer.status_code == status
    assert answer.headers["content-type"].startswith("text/html")
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    assert says in answer.text
    assert 'href="/admin/"' in answer.text


def test_the_api_still_answers_errors_as_json(console: TestClient) -> None:
    """Outside the console nothing changes: an unknown job is the ErrorBody."""
    answer = console.get("/v1/jobs/no-such-job", headers=AUTH)
    assert answer.status_code == 404
    assert answer.json()["error"] == "not_found"


def test_a_405_page_keeps_its_allow_header(console: TestClient) -> None:
    """Headers that give the status its meaning survive the page."""
    sign_in(console)
    assert console.put("/admin/jobs").headers["allow"] == "GET, HEAD"
