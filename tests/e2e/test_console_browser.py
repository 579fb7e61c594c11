"""The console in a real headless Chromium: sign in, switch, test-send, Log tab, retry, Try it.

Screenshots of each page land in ``/tmp/console-shots`` (``DELTAHOOK_CONSOLE_SHOTS``).
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from click.testing import CliRunner

from deltahook.api import create_app
from deltahook.cli import main
from deltahook.configload import load_settings
from deltahook.delivery.dispatcher import Dispatcher, DispatcherOptions
from deltahook.delivery.receiver import Receiver
from deltahook.engine import Engine
from tests.api_support import KEY, STOCK, ndjson, served
from tests.browser_support import browser, shot
from tests.delivery_support import SECRET

pytestmark = pytest.mark.slow
BREAKPOINT = "SkuOnHandBreakPointNotification"


class Site:
    """A project (config file, SQLite store) served on a real socket, and its command line."""

    def __init__(self, tmp_path: Path, receiver: Receiver) -> None:
        self.config = tmp_path / "deltahook.yaml"
        erp = {
            "name": "erp",
            "url": receiver.url,
            "event_types": [BREAKPOINT],
            "headers": {"Authorization": "Bearer erp-header-value-0001"},
            "secrets": [SECRET],
        }
        self.config.write_text(
            yaml.safe_dump(
                {
                    "database_url": f"sqlite:///{tmp_path / 'db.sqlite'}",
                    "api_keys": [KEY],
                    "allow_private_urls": True,
                    "subscriptions": [erp],
                }
            )
        )
        self.engine = Engine.from_settings(load_settings(self.config))

    def ingest(self, *rows: dict[str, Any]) -> None:
        self.engine.ingest("sku_onhand", io.BytesIO(ndjson(list(rows))), fmt="ndjson")

    def deliver(self) -> None:
        """The dispatcher's once-step, in a thread of its own (Playwright holds this one's loop)."""
        options = DispatcherOptions(worker_id="browser-test", allow_private=True)
        dispatcher = Dispatcher(self.engine.db, options=options)
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, dispatcher.run(once=True)).result()

    def subscriptions(self) -> dict[str, bool]:
        """What ``deltahook subscriptions list --json`` says is on."""
        result = CliRunner().invoke(
            main, ["--config", str(self.config), "subscriptions", "list", "--json"]
        )
        assert result.exit_code == 0, result.output
        return {row["name"]: row["enabled"] for row in orjson.loads(result.stdout)}


@pytest.fixture
def site(tmp_path: Path, receiver: Receiver) -> Iterator[tuple[Site, str]]:
    made = Site(tmp_path, receiver)
    with served(create_app(made.engine.settings, engine=made.engine)) as base:
        yield made, base
    made.engine.close()


@pytest.fixture
def page(site: tuple[Site, str]) -> Iterator[Any]:
    """A browser page signed in to the console."""
    _, base = site
    with browser() as chromium:
        context = chromium.new_context(base_url=base, viewport={"width": 1280, "height": 900})
        context.set_default_timeout(10_000)
        tab = context.new_page()
        tab.goto("/admin/")
        assert "/admin/signin" in tab.url
        shot(tab, "00-sign-in")
        tab.fill("#key", KEY)
        tab.click("button[type=submit]")
        tab.wait_for_url("**/admin/")
        yield tab
        context.close()


def test_sign_in_shows_active_types_above_inactive_ones(page: Any) -> None:
    """The type an enabled subscription receives is under Active with its subscription; a
    type nobody receives is under Inactive."""
    active = page.locator("#active")
    assert active.locator(f'tr[data-type="{BREAKPOINT}"]').count() == 1
    assert "erp" in active.locator(f'tr[data-type="{BREAKPOINT}"]').inner_text()
    assert page.locator('#inactive tr[data-type="SkuChangedNotification"]').count() == 1
    shot(page, "01-integration-events")


def test_switching_a_subscription_off_and_on_is_what_the_cli_lists(
    page: Any, site: tuple[Site, str]
) -> None:
    """OFF and ON on the Configuration tab persist: ``subscriptions list`` agrees each time.
    Switching off asks first (nothing is queued for it while it is off): dismissed, it stays
    on; switching on does not ask."""
    made, _ = site
    page.click(f"text={BREAKPOINT}")
    switch = page.locator('[data-subscription="erp"] button[role=switch]')
    assert switch.inner_text() == "ON"
    asked: list[str] = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    switch.click()
    assert asked == [
        "Switch erp off? Nothing is queued for it while it is off: what is notified meanwhile "
        "never reaches it."
    ]
    assert made.subscriptions() == {"erp": True}
    page.once("dialog", lambda dialog: dialog.accept())
    switch.click()
    page.wait_for_selector('[data-subscription="erp"] button[aria-checked=false]')
    assert made.subscriptions() == {"erp": False}
    shot(page, "02-configuration-off")
    page.locator('[data-subscription="erp"] button[role=switch]').click()
    page.wait_for_selector('[data-subscription="erp"] button[aria-checked=true]')
    assert made.subscriptions() == {"erp": True}


def test_a_test_send_shows_the_receivers_answer(page: Any, receiver: Receiver) -> None:
    """Test send reaches the local receiver and its status and answer show inline."""
    page.goto(f"/admin/types/{BREAKPOINT}")
    page.click('[data-subscription="erp"] >> text=Test send')
    result = page.locator("[data-test-result]")
    result.wait_for()
    assert "200" in result.inner_text()
    assert "ok" in result.inner_text()
    [request] = receiver.wait_for(1)
    assert request.headers["norce-event-type"] == "TestEvent"
    shot(page, "03-configuration-test-send")


def test_a_failed_breakpoint_is_in_the_log_and_retry_all_failed_sends_it_again(
    page: Any, site: tuple[Site, str], receiver: Receiver
) -> None:
    """The receiver fails the breakpoint; the Log tab's row opens to status code, answer and
    payload; with the receiver fixed, Retry all failed delivers the same message id."""
    made, _ = site
    receiver.fail(1, status=500)
    made.ingest(STOCK)
    made.ingest(STOCK | {"OnhandValue": 20})
    made.deliver()
    page.goto(f"/admin/types/{BREAKPOINT}/log")
    row = page.locator("details.row").first
    row.locator("summary").click()
    assert "500" in row.locator("[data-status-code]").inner_text()
    assert "failing" in row.locator("[data-answer]").inner_text()
    assert '"PartNo": "40017-BLK"' in row.locator("[data-payload]").inner_text()
    shot(page, "04-log-failed-expanded")
    page.select_option("select[name=status]", "failed")
    page.wait_for_url("**status=failed**")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#retry-all")
    page.wait_for_selector(".notice")
    assert "Queued 1 failed delivery again" in page.inner_text(".notice")
    shot(page, "05-log-retried")
    made.deliver()
    first, second = receiver.wait_for(2)
    assert first.message_id == second.message_id
    page.goto(f"/admin/types/{BREAKPOINT}/log")
    assert page.locator("details.row .status-delivered").count() == 1


def test_the_metadata_tab_shows_the_payload_table_and_example(page: Any) -> None:
    """Properties with type, required and description; an example payload."""
    page.goto(f"/admin/types/{BREAKPOINT}/metadata")
    assert page.locator("table.list tbody tr").count() >= 5
    assert "OnHandValue" in page.inner_text("[data-example]")
    shot(page, "06-event-metadata")


def test_try_it_shows_the_breakpoint_and_then_a_near_miss(page: Any) -> None:
    """Event Settings shows the setting; Try it on a drop through the minimum shows the
    breakpoint firing, and on a drop that stays above it a near miss."""
    page.goto(f"/admin/types/{BREAKPOINT}/settings")
    assert "sku_onhand.yaml:" in page.inner_text(f'[data-setting="{BREAKPOINT}/reorder-point"]')
    page.select_option("select[name=kind]", "sku_onhand")
    page.fill("textarea[name=before]", orjson.dumps(STOCK).decode())
    page.fill("textarea[name=after]", orjson.dumps(STOCK | {"OnhandValue": 20}).decode())
    page.click("text=Try it >> nth=-1")
    fired = page.locator(f'[data-fired="{BREAKPOINT}"]')
    assert "crossed: 33 -> 20 <= 25" in fired.inner_text()
    shot(page, "07-event-settings-try-it-fires")
    page.fill("textarea[name=after]", orjson.dumps(STOCK | {"OnhandValue": 28}).decode())
    page.click("button:has-text('Try it')")
    near = page.locator(f'[data-near-miss="{BREAKPOINT}"]')
    assert "did not cross" in near.inner_text()
    assert page.locator(f'[data-fired="{BREAKPOINT}"]').count() == 0
    shot(page, "08-event-settings-try-it-near-miss")


def test_back_to_a_try_it_answer_shows_it_again(page: Any) -> None:
    """Back from another tab to Try it's answer shows that answer again, not Chromium's
    "Confirm Form Resubmission" page (ERR_CACHE_MISS): the answer is kept in the browser's
    cache."""
    page.goto(f"/admin/types/{BREAKPOINT}/settings")
    page.select_option("select[name=kind]", "sku_onhand")
    page.fill("textarea[name=before]", orjson.dumps(STOCK).decode())
    page.fill("textarea[name=after]", orjson.dumps(STOCK | {"OnhandValue": 20}).decode())
    page.click("button:has-text('Try it')")
    assert page.locator(f'[data-fired="{BREAKPOINT}"]').count() == 1
    page.click(".tabs >> text=Log")
    page.wait_for_url("**/log")
    page.go_back()  # raised net::ERR_CACHE_MISS
    assert page.locator(f'[data-fired="{BREAKPOINT}"]').count() == 1


def test_the_subscriptions_and_jobs_pages(page: Any, site: tuple[Site, str]) -> None:
    """Subscriptions lists erp with its queue; Jobs lists the ingest and opens to its rejects."""
    made, _ = site
    made.ingest(STOCK)
    page.goto("/admin/subscriptions")
    assert page.locator('#subscriptions tr[data-subscription="erp"]').count() == 1
    shot(page, "09-subscriptions")
    page.click("text=New subscription")
    page.fill("input[name=name]", "webshop")
    page.fill("input[name=url]", "http://127.0.0.1:9/hooks")
    page.fill("input[name=event_types]", "SkuChangedNotification")
    page.fill("textarea[name=headers]", "X-Api-Key: webshop-header-value-77")
    shot(page, "09b-new-subscription")
    page.click("button:has-text('Create')")
    page.wait_for_selector('#subscriptions tr[data-subscription="webshop"]')
    assert made.subscriptions() == {"erp": True, "webshop": True}
    assert "webshop-header-value-77" not in page.content()
    page.goto("/admin/jobs")
    page.locator("#jobs tr[data-job] a").first.click()
    page.wait_for_selector("#rejects")
    assert "sku_onhand feed" in page.inner_text("h1")
    shot(page, "10-job")


def test_the_api_docs_open_from_the_header(page: Any) -> None:
    """API docs in the header opens the reference of every operation, signed in."""
    page.click("text=API docs")
    page.wait_for_url("**/docs")
    assert page.locator("section.operation").count() >= 15
    shot(page, "11-api-docs")


def test_the_subscriptions_page_names_each_control_by_its_subscription(
    page: Any, site: tuple[Site, str]
) -> None:
    """Each row's switch and Recover time are named by their subscription (the switch was
    only "ON", the time select had no label at all), so a keyboard or screen reader user can
    find erp's and switch it off with Enter."""
    made, _ = site
    page.goto("/admin/subscriptions")
    recover = page.get_by_label("Recover erp's failed deliveries since")
    assert recover.input_value() == "24h"
    switch = page.get_by_role("switch", name="Deliver to erp")
    assert switch.inner_text() == "ON"
    page.once("dialog", lambda dialog: dialog.accept())
    switch.focus()
    page.keyboard.press("Enter")
    page.wait_for_selector('tr[data-subscription="erp"] button[aria-checked=false]')
    assert made.subscriptions() == {"erp": False}


def test_a_log_filter_is_changed_with_the_arrow_keys_one_step_at_a_time(page: Any) -> None:
    """A filter applies at once, so each arrow key press loads the page again; the select
    keeps the focus, so the next press moves on (it went to the page's body, and the next
    press did nothing)."""
    page.goto(f"/admin/types/{BREAKPOINT}/log")
    page.focus("select[name=status]")
    for expected in ("pending", "retrying"):
        page.keyboard.press("ArrowDown")
        page.wait_for_url(f"**status={expected}**")
        page.locator("select[name=status]:focus").wait_for()
    assert page.locator("select[name=status]").input_value() == "retrying"
