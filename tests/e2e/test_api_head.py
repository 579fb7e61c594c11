"""HEAD over a real socket: wherever GET answers, HEAD answers the same, without a body."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from deltahook.api import create_app
from deltahook.engine import Engine
from tests.api_support import AUTH, STOCK, ndjson, served, settings
from tests.console_support import sign_in

SHOP = {"name": "shop", "url": "https://shop.example/hook", "event_types": ["*"]}
# Headers that may differ between two answers to the same request a moment apart.
MOMENTARY = {"date"}


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A served store with a subscription and a job; yields the base URL and the job's id."""
    folder: Path = tmp_path_factory.mktemp("head")
    engine = Engine.from_settings(
        settings(f"sqlite:///{folder / 'db.sqlite'}", subscriptions=[SHOP])
    )
    job = engine.ingest("sku_onhand", io.BytesIO(ndjson([STOCK])), fmt="ndjson").job_id
    with served(create_app(engine.settings, engine=engine)) as url:
        yield url, job
    engine.close()


def _same_answer(http: httpx.Client, path: str) -> httpx.Response:
    got, head = http.get(path), http.head(path)
    assert head.status_code == got.status_code, (path, head.text)
    assert head.content == b""
    differing = {
        name
        for name in {*got.headers.keys(), *head.headers.keys()} - MOMENTARY
        if got.headers.get(name) != head.headers.get(name)
    }
    assert differing == set(), path
    return got


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/v1/jobs/{job}", 200),
        ("/v1/entities/sku_onhand/40017-BLK|STHLM-DC|B2", 200),
        ("/v1/event-types", 200),
        ("/v1/event-types/SkuChangedNotification/schema", 200),
        ("/v1/entity-kinds", 200),
        ("/v1/entity-kinds/sku/schema", 200),
        ("/v1/subscriptions", 200),
        ("/v1/subscriptions/shop", 200),
        ("/v1/deliveries?limit=5", 200),
        ("/openapi.json", 200),
        ("/v1/jobs/no-such-job", 404),  # a 404 is the same 404
    ],
)
def test_head_answers_every_api_get_with_its_status_and_headers(
    base: tuple[str, str], path: str, status: int
) -> None:
    """HEAD on an API resource: GET's status, Content-Type and Content-Length, no body."""
    url, job = base
    with httpx.Client(base_url=url, headers=AUTH) as http:
        got = _same_answer(http, path.format(job=job))
    assert got.status_code == status
    assert got.content  # GET's answer has the body HEAD left out


def test_head_without_a_key_is_refused_as_get_is(base: tuple[str, str]) -> None:
    """HEAD needs the key GET needs: 401 with WWW-Authenticate; /healthz needs none."""
    url, _ = base
    with httpx.Client(base_url=url) as http:
        assert _same_answer(http, "/v1/subscriptions").status_code == 401
        assert _same_answer(http, "/healthz").status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/admin/",
        "/admin/types/SkuOnHandBreakPointNotification",
        "/admin/types/SkuOnHandBreakPointNotification/log",
        "/admin/subscriptions",
        "/admin/jobs",
        "/admin/jobs/{job}",
        "/admin/static/console.css",
    ],
)
def test_head_answers_console_pages_as_get_does(base: tuple[str, str], path: str) -> None:
    """A signed-in HEAD on a console page: GET's status and headers, no body."""
    url, job = base
    with httpx.Client(base_url=url, follow_redirects=False) as http:
        sign_in(http)  # type: ignore[arg-type]  # the helper takes any httpx client
        assert _same_answer(http, path.format(job=job)).status_code == 200


def test_head_on_a_console_page_signed_out_is_sent_to_sign_in(base: tuple[str, str]) -> None:
    """Signed out, HEAD is redirected to the sign-in page, as GET is."""
    url, _ = base
    with httpx.Client(base_url=url, follow_redirects=False) as http:
        got = _same_answer(http, "/admin/jobs")
    assert got.status_code == 303
    assert got.headers["location"].startswith("/admin/signin")


def test_head_on_a_post_only_path_is_a_405_naming_post(base: tuple[str, str]) -> None:
    """HEAD where only POST is answered: 405, and Allow says POST (not HEAD)."""
    url, _ = base
    with httpx.Client(base_url=url, headers=AUTH) as http:
        answer = http.head("/v1/subscriptions/shop/test")
    assert answer.status_code == 405
    assert answer.headers["allow"] == "POST"
