"""Every console page a signed-in operator can reach by its links loads cleanly in Chromium.

The browser's own console is the judge: an error or warning there (a failed request for an
asset, a script error, a blocked resource) on any page fails the test, as it would show in
an operator's developer tools.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest

from deltahook.api import create_app
from deltahook.delivery.receiver import Receiver
from deltahook.engine import Engine
from tests.api_support import KEY, STOCK, ndjson, served, settings
from tests.browser_support import browser

pytestmark = pytest.mark.slow
PAGE_LIMIT = 200
"""Far more than the pages of this small store: the walk must end by running out of links."""


@pytest.fixture
def base(tmp_path: Path, receiver: Receiver) -> Iterator[str]:
    """A store with a subscription, a job and a breakpoint notification, served."""
    erp = {"name": "erp", "url": receiver.url, "event_types": ["*"]}
    engine = Engine.from_settings(
        settings(f"sqlite:///{tmp_path / 'db.sqlite'}", subscriptions=[erp])
    )
    for onhand in (33, 20):  # from above MinimumValue (25) to below it
        engine.ingest(
            "sku_onhand", io.BytesIO(ndjson([STOCK | {"OnhandValue": onhand}])), fmt="ndjson"
        )
    with served(create_app(engine.settings, engine=engine)) as url:
        yield url
    engine.close()


def _links(page: Any, here: str, origin: str) -> list[str]:
    """The console pages this page links to (never sign-out), as paths with their query."""
    found = []
    for href in page.eval_on_selector_all("a[href]", "links => links.map(a => a.href)"):
        parts = urlsplit(urljoin(here, href))
        if f"{parts.scheme}://{parts.netloc}" != origin or "signout" in parts.path:
            continue
        if parts.path.startswith(("/admin", "/docs")):
            found.append(parts.path + (f"?{parts.query}" if parts.query else ""))
    return found


def test_every_linked_page_loads_without_a_console_error(base: str) -> None:
    """Walk the links from the home page: each page answers 200 and the browser logs nothing."""
    problems: list[str] = []
    with browser() as chromium:
        context = chromium.new_context(base_url=base)
        page = context.new_page()
        where = {"path": "/admin/signin"}
        page.on(
            "console",
            lambda m: (
                problems.append(f"{where['path']}: {m.type}: {m.text}")
                if m.type in ("error", "warning")
                else None
            ),
        )
        page.on("pageerror", lambda e: problems.append(f"{where['path']}: {e}"))
        page.goto("/admin/")
        page.fill("#key", KEY)
        page.click("button[type=submit]")
        page.wait_for_url("**/admin/")
        seen: set[str] = set()
        queue = ["/admin/"]
        while queue and len(seen) < PAGE_LIMIT:
            path = queue.pop(0)
            if path in seen:
                continue
            seen.add(path)
            where["path"] = path
            answer = page.goto(path)
            assert answer is not None, path
            assert answer.status == 200, path
            queue += [link for link in _links(page, base + path, base) if link not in seen]
        context.close()
    assert len(seen) < PAGE_LIMIT, "the walk did not end"
    assert {"/admin/subscriptions", "/admin/jobs", "/docs"} <= seen
    assert any(p.endswith("/log") for p in seen)
    assert any(p.startswith("/admin/jobs/") for p in seen)
    assert problems == []
