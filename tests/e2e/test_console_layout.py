"""The console's pages fit their window in Chromium: nothing cut off, no sideways scrolling.

A page is judged by the browser's own layout: the page must not be wider than the window, and
no table cell, heading or label may hold content wider than itself (cut off or drawn over its
neighbour), with a subscription whose name and URL are as long as they may be.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from deltahook.api import create_app
from deltahook.delivery.receiver import Receiver
from deltahook.engine import Engine
from tests.api_support import AUTH, KEY, STOCK, ndjson, served, settings
from tests.browser_support import browser

pytestmark = pytest.mark.slow
BREAKPOINT = "SkuOnHandBreakPointNotification"
LONG_NAME = "warehouse-" + "n" * 118  # the longest name a subscription may have
PAGES = (
    "/admin/",
    "/admin/subscriptions",
    "/admin/subscriptions/new",
    "/admin/jobs",
    f"/admin/types/{BREAKPOINT}",
    f"/admin/types/{BREAKPOINT}/log",
    f"/admin/types/{BREAKPOINT}/metadata",
    f"/admin/types/{BREAKPOINT}/settings",
    "/docs",
)
CUT_OFF = """() => {
  const width = document.documentElement.clientWidth, found = [];
  if (document.documentElement.scrollWidth > width) {
    found.push(`the page is ${document.documentElement.scrollWidth}px wide in ${width}px`);
  }
  for (const el of document.querySelectorAll("td, th, dd, dt, h1, h2, p, label")) {
    if (el.offsetParent !== null && el.scrollWidth > el.clientWidth + 1) {
      found.push(`${el.tagName} "${el.textContent.trim().slice(0, 30)}" is cut off`);
    }
  }
  return found;
}"""


@pytest.fixture
def base(tmp_path: Path, receiver: Receiver) -> Iterator[str]:
    """A store with a breakpoint delivery to two subscriptions with long names and URLs: one
    from the config file, one made over the API (its card links to its edit form)."""
    long = {
        "name": LONG_NAME,
        "url": receiver.url + "hooks/" + "a" * 400,
        "event_types": [BREAKPOINT],
    }
    engine = Engine.from_settings(
        settings(f"sqlite:///{tmp_path / 'db.sqlite'}", subscriptions=[long])
    )
    with served(create_app(engine.settings, engine=engine)) as url:
        made = httpx.post(
            f"{url}/v1/subscriptions", headers=AUTH, json=long | {"name": "api-" + LONG_NAME[4:]}
        )
        assert made.status_code == 201, made.text
        for onhand in (33, 20):  # from above MinimumValue (25) to below it
            engine.ingest(
                "sku_onhand", io.BytesIO(ndjson([STOCK | {"OnhandValue": onhand}])), fmt="ndjson"
            )
        yield url
    engine.close()


def _cut_off(base: str, width: int) -> dict[str, list[str]]:
    """What each of ``PAGES`` cuts off in a window ``width`` pixels wide (a log row opened)."""
    found: dict[str, list[str]] = {}
    with browser() as chromium:
        context = chromium.new_context(base_url=base, viewport={"width": width, "height": 900})
        page: Any = context.new_page()
        page.goto("/admin/")
        page.fill("#key", KEY)
        page.click("button[type=submit]")
        page.wait_for_url("**/admin/")
        for path in PAGES:
            page.goto(path)
            if path.endswith("/log"):
                page.click("details.row summary")
            found[path] = page.evaluate(CUT_OFF)
        context.close()
    return found


def test_a_long_subscription_name_and_url_fit_a_desktop_window(base: str) -> None:
    """At 1280 px a 128-character name and a 400-character URL wrap inside their cells."""
    assert _cut_off(base, 1280) == {path: [] for path in PAGES}


@pytest.mark.parametrize("width", [375, 390])
def test_every_page_fits_a_phone_window(base: str, width: int) -> None:
    """At 375 and 390 px (phones) the header, tabs, tables and log rows (one opened) stay
    inside the window: wide tables scroll within themselves, the rest wraps."""
    assert _cut_off(base, width) == {path: [] for path in PAGES}


def test_a_notice_and_an_error_page_with_a_long_name_fit_a_phone_window(base: str) -> None:
    """At 375 px the notice naming a 128-character subscription (switched off) and the error
    page naming a long unknown job id wrap inside the window (both made the page thousands
    of pixels wide)."""
    found = {}
    with browser() as chromium:
        context = chromium.new_context(base_url=base, viewport={"width": 375, "height": 900})
        page: Any = context.new_page()
        page.on("dialog", lambda dialog: dialog.accept())
        page.goto("/admin/")
        page.fill("#key", KEY)
        page.click("button[type=submit]")
        page.wait_for_url("**/admin/")
        page.goto("/admin/subscriptions")
        with page.expect_navigation():
            page.get_by_label(f"Deliver to api-{LONG_NAME[4:]}").click()
        assert page.locator(".notice").inner_text().endswith("is now off")
        found["notice"] = page.evaluate(CUT_OFF)
        page.goto("/admin/jobs/" + "x" * 300)
        assert page.locator("[data-error='404']").is_visible()
        found["error"] = page.evaluate(CUT_OFF)
        context.close()
    assert found == {"notice": [], "error": []}
