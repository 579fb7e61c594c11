"""The console's pages over a real store: what they show, what their forms do, what they hide."""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import Iterator
from datetime import timedelta
from html import unescape
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from deltahook.api import create_app
from deltahook.delivery import subscriptions as subs
from deltahook.delivery.dispatcher import Dispatcher, DispatcherOptions
from deltahook.delivery.receiver import Receiver
from deltahook.delivery.signing import format_detected
from deltahook.engine import Engine
from deltahook.store import jobs
from deltahook.store.tables import entities, notifications
from tests.api_support import AUTH, KEY, STOCK, ndjson, settings
from tests.console_support import form_token, sign_in
from tests.delivery_support import SECRET
from tests.integration.test_abandoned_jobs import ended_process

BREAKPOINT = "SkuOnHandBreakPointNotification"
HEADER_VALUE = "Bearer header-value-never-shown-7f3a"


class Console:
    """The app over a store with one signed, custom-header subscription, and a signed-in
    client."""

    def __init__(self, database_url: str, receiver: Receiver) -> None:
        erp = {
            "name": "erp",
            "url": receiver.url,
            "event_types": [BREAKPOINT],
            "headers": {"Authorization": HEADER_VALUE},
            "secrets": [SECRET],
        }
        self.engine = Engine.from_settings(settings(database_url, subscriptions=[erp]))
        self.client = TestClient(
            create_app(self.engine.settings, engine=self.engine), follow_redirects=False
        )
        self.csrf = sign_in(self.client)

    def __enter__(self) -> Console:
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()
        self.engine.close()

    def ingest(self, *rows: dict[str, Any]) -> None:
        self.engine.ingest("sku_onhand", io.BytesIO(ndjson(list(rows))), fmt="ndjson")

    def deliver(self) -> None:
        options = DispatcherOptions(worker_id="console-test", allow_private=True)
        asyncio.run(Dispatcher(self.engine.db, options=options).run(once=True))

    def post(self, path: str, **fields: str) -> Any:
        return self.client.post(path, data={"csrf": self.csrf, **fields})

    def get(self, path: str) -> str:
        answer = self.client.get(path)
        assert answer.status_code == 200, (path, answer.text)
        return answer.text

    def follow(self, answer: Any) -> str:
        """The page a form's 303 leads to, as the browser would show it next."""
        assert answer.status_code == 303, answer.text
        return self.get(answer.headers["location"])


def notice(html: str) -> str:
    """The text of a page's notice box (empty when it has none)."""
    found = re.search(r'<p class="notice" role="status">(.*?)</p>', html, re.S)
    return unescape(found.group(1)) if found else ""


@pytest.fixture
def console(database_url: str, receiver: Receiver) -> Iterator[Console]:
    with Console(database_url, receiver) as made:
        yield made


def cross_breakpoint(console: Console) -> None:
    console.ingest(STOCK)
    console.ingest(STOCK | {"OnhandValue": 20})


def test_active_types_come_first_with_their_subscriptions_and_figures(
    console: Console, receiver: Receiver
) -> None:
    """The breakpoint type (an enabled subscription wants it) is under Active with a warning
    mark once a delivery fails; a type nobody wants is under Inactive."""
    receiver.fail(1, status=500)
    cross_breakpoint(console)
    console.deliver()
    html = console.get("/admin/")
    active, inactive = html.split('id="inactive"')
    assert BREAKPOINT in active
    assert "SkuChangedNotification" in inactive
    assert "SkuChangedNotification" not in active
    row = active[active.index(f'data-type="{BREAKPOINT}"') :].split("</tr>")[0]
    assert "erp" in row
    assert "⚠" in row


def test_no_secret_or_header_value_appears_in_any_page(
    console: Console, receiver: Receiver
) -> None:
    """Header names and "signed" are shown; header values and secrets never, not even when
    the receiver echoes them back in its answer."""
    receiver.echo_header = "authorization"
    receiver.fail(1, status=500)
    cross_breakpoint(console)
    console.deliver()
    pages = [
        console.get(path)
        for path in (
            "/admin/",
            f"/admin/types/{BREAKPOINT}",
            f"/admin/types/{BREAKPOINT}/metadata",
            f"/admin/types/{BREAKPOINT}/log",
            f"/admin/types/{BREAKPOINT}/log?status=failed",
        )
    ]
    tested = console.follow(console.post(f"/admin/types/{BREAKPOINT}/test", subscription="erp"))
    pages.append(tested)
    everything = "\n".join(pages)
    assert "Authorization" in everything
    assert "signed (Standard Webhooks)" in everything
    assert "data-test-result" in tested
    for secret in (HEADER_VALUE, "header-value-never-shown-7f3a", SECRET, SECRET[6:], KEY):
        assert secret not in everything


def test_the_log_tab_shows_a_failed_delivery_and_retry_all_failed_resends_it(
    console: Console, receiver: Receiver
) -> None:
    """The row holds status code, answer and payload; "Retry all failed" queues it again and
    the receiver gets the same message id."""
    receiver.fail(1, status=503)
    cross_breakpoint(console)
    console.deliver()
    html = console.get(f"/admin/types/{BREAKPOINT}/log?status=failed")
    assert "503" in html
    assert "failing" in html
    assert "40017-BLK" in html
    assert (
        console.get(f"/admin/types/{BREAKPOINT}/log?status=delivered").count("data-delivery=") == 0
    )
    answer = console.post(f"/admin/types/{BREAKPOINT}/log/retry", status="failed")
    assert notice(console.follow(answer)) == "Queued 1 failed delivery again"
    console.deliver()
    first, second = receiver.wait_for(2)
    assert first.message_id == second.message_id
    assert "delivered" in console.get(f"/admin/types/{BREAKPOINT}/log")


def test_resend_on_a_row_queues_that_delivery_again(console: Console, receiver: Receiver) -> None:
    """Resend works on a delivered one too, with the same message id."""
    cross_breakpoint(console)
    console.deliver()
    html = console.get(f"/admin/types/{BREAKPOINT}/log")
    delivery = html.split('data-delivery="')[1].split('"')[0]
    back = f"/admin/types/{BREAKPOINT}/log?status=delivered"
    answer = console.post(f"/admin/deliveries/{delivery}/resend", back=back)
    assert answer.headers["location"] == back
    assert notice(console.follow(answer)).startswith("Resend: ")
    console.deliver()
    first, second = receiver.wait_for(2)
    assert first.message_id == second.message_id


def test_the_switch_persists_as_subscriptions_disable_does(console: Console) -> None:
    """OFF on the Configuration tab switches the stored subscription off; ON back on."""
    page = console.get(f"/admin/types/{BREAKPOINT}")
    assert 'aria-checked="true"' in page
    console.post("/admin/subscriptions/erp/enabled", enabled="off", back="/admin/")
    with console.engine.db.connect() as conn:
        assert subs.get(conn, "erp").enabled is False
    assert 'aria-checked="false"' in console.get(f"/admin/types/{BREAKPOINT}")
    console.post("/admin/subscriptions/erp/enabled", enabled="on")
    with console.engine.db.connect() as conn:
        assert subs.get(conn, "erp").enabled is True


def test_the_metadata_tab_lists_the_payload_and_a_valid_example(console: Console) -> None:
    """Properties with type and required, and the schema's example."""
    html = console.get(f"/admin/types/{BREAKPOINT}/metadata")
    assert "OnHandValue" in html
    assert "data-example" in html


def test_the_log_pages_with_the_api_cursor(console: Console) -> None:
    """More than a page of deliveries: a link to older ones, which the API's cursor serves."""
    for number in range(55):
        console.ingest(STOCK | {"PartNo": f"P-{number}"})
        console.ingest(STOCK | {"PartNo": f"P-{number}", "OnhandValue": 20})
    first = console.get(f"/admin/types/{BREAKPOINT}/log")
    assert first.count("data-delivery=") == 50
    link = first.split('class="more" href="')[1].split('"')[0].replace("&amp;", "&")
    second = console.get(link)
    assert second.count("data-delivery=") == 5
    assert form_token(second) == console.csrf


def test_the_settings_tab_shows_each_setting_with_its_file_and_line(console: Console) -> None:
    """The breakpoint setting, its table and breakpoint, and where it is written."""
    html = console.get(f"/admin/types/{BREAKPOINT}/settings")
    assert f"{BREAKPOINT}/reorder-point" in html
    assert "sku_onhand.yaml:" in html
    assert "tClientProductSkuOnHand" in html
    assert "OnhandValue ≤ MinimumValue" in html


def test_the_settings_tab_shows_what_each_setting_fired_and_its_fields(console: Console) -> None:
    """Two stock ingests fire SkuChangedNotification through sku-onhand: its card counts them
    for the last day and week with OnhandValue among its fields; the sku setting shows 0."""
    cross_breakpoint(console)
    html = console.get("/admin/types/SkuChangedNotification/settings")
    cards = {
        card.split('"')[0]: card.split("</section>")[0] for card in html.split('data-setting="')[1:]
    }
    fired = cards["SkuChangedNotification/sku-onhand"]
    assert 'data-fired-day="2"' in fired
    assert 'data-fired-week="2"' in fired
    assert "OnhandValue 2" in fired
    quiet = cards["SkuChangedNotification/sku"]
    assert 'data-fired-day="0"' in quiet
    assert 'data-fired-week="0"' in quiet


def test_try_it_shows_what_fires_and_the_near_misses(console: Console) -> None:
    """A drop through the minimum fires the breakpoint; a drop that stays above it is a near
    miss that says it did not cross; bad JSON gets a message, not an error page."""
    before = orjson.dumps(STOCK).decode()
    fired = console.post(
        f"/admin/types/{BREAKPOINT}/try",
        kind="sku_onhand",
        before=before,
        after=orjson.dumps(STOCK | {"OnhandValue": 20}).decode(),
    ).text
    assert f'data-fired="{BREAKPOINT}"' in fired
    assert "crossed: 33 -&gt; 20 &lt;= 25" in fired
    missed = console.post(
        f"/admin/types/{BREAKPOINT}/try",
        kind="sku_onhand",
        before=before,
        after=orjson.dumps(STOCK | {"OnhandValue": 28}).decode(),
    ).text
    assert f'data-fired="{BREAKPOINT}"' not in missed
    assert f'data-near-miss="{BREAKPOINT}"' in missed
    assert "did not cross" in missed
    broken = console.post(
        f"/admin/types/{BREAKPOINT}/try", kind="sku_onhand", before="", after="{oops"
    )
    assert broken.status_code == 200
    assert "after: not JSON" in broken.text
    with console.engine.db.connect() as conn:  # a preview writes nothing
        assert conn.execute(select(func.count()).select_from(entities)).scalar_one() == 0


def test_the_subscriptions_page_shows_queues_and_recovers_failed_deliveries(
    console: Console, receiver: Receiver
) -> None:
    """A failed delivery counts as retrying; Recover since 24h queues it again."""
    receiver.fail(1, status=500)
    cross_breakpoint(console)
    console.deliver()
    html = console.get("/admin/subscriptions")
    row = html.split('data-subscription="erp"')[1].split("</tr>")[0]
    assert '<td class="num bad">1</td>' in row  # retrying
    answer = console.post("/admin/subscriptions/erp/recover", since="24h")
    assert notice(console.follow(answer)) == "erp: queued 1 failed delivery again"


def test_a_subscription_switched_off_by_a_410_says_why_on_both_pages(
    console: Console, receiver: Receiver
) -> None:
    """The endpoint answered 410 Gone: the Subscriptions page and the type's Configuration tab
    show it off with the reason, and the API lists the reason too."""
    receiver.fail(1, status=410)
    cross_breakpoint(console)
    console.deliver()
    for path in ("/admin/subscriptions", f"/admin/types/{BREAKPOINT}"):
        html = console.get(path)
        card = html.split('data-subscription="erp"')[1]
        assert 'aria-checked="false"' in card
        assert "the endpoint answered 410 Gone at" in card.split("data-disabled-reason")[1]
    (erp,) = console.client.get("/v1/subscriptions", headers=AUTH).json()
    assert erp["disabled_reason"].startswith("the endpoint answered 410 Gone at")


def test_the_jobs_pages_list_jobs_and_their_rejects_by_line(console: Console) -> None:
    """Each ingest is a row; a job with a bad record shows its line and reason."""
    console.ingest(STOCK)
    console.engine.ingest(
        "sku_onhand", io.BytesIO(ndjson([STOCK]) + b'{"PartNo": 5}\n'), fmt="ndjson"
    )
    html = console.get("/admin/jobs")
    assert html.count("data-job=") == 2
    newest = html.split('data-job="')[1].split('"')[0]
    job = console.get(f"/admin/jobs/{newest}")
    assert '<td class="num">2</td>' in job
    assert "required field &#39;WarehouseCode&#39; is missing" in job
    assert console.client.get("/admin/jobs/nope").status_code == 404


def test_the_jobs_pages_find_a_job_whose_process_died_abandoned(console: Console) -> None:
    """A job left running by a process that ended shows as abandoned, as `deltahook status`
    would mark it, on the list and on its page."""
    with console.engine.db.begin() as conn:
        jobs.start(
            conn,
            job_id="j-dead",
            kind="sku_onhand",
            mode="full",
            source="-",
            now=console.engine.clock(),
            owner=ended_process(),
            lease_until=console.engine.clock() + timedelta(minutes=10),
        )
    assert '<span class="pill warn">abandoned</span>' in console.get("/admin/jobs")
    assert '<span class="pill warn">abandoned</span>' in console.get("/admin/jobs/j-dead")


def test_a_password_in_a_subscription_url_is_masked_and_kept_by_the_edit_form(
    console: Console, receiver: Receiver
) -> None:
    """The list and the edit form show ``user:****``; saving the form as shown keeps the
    password the deliveries use."""
    secret_url = receiver.url.replace("http://", "http://shop:pa55-w0rd@")
    made = console.post(
        "/admin/subscriptions/new", name="shop", url=secret_url, event_types="*", secrets=""
    )
    assert made.status_code == 303, made.text
    masked = receiver.url.replace("http://", "http://shop:****@")
    for page in (
        console.get("/admin/subscriptions"),
        console.get("/admin/subscriptions/shop/edit"),
    ):
        assert "pa55-w0rd" not in page
        assert masked in page
    console.post("/admin/subscriptions/shop/edit", url=masked, event_types="SkuChangedNotification")
    with console.engine.db.connect() as conn:
        shop = subs.get(conn, "shop")
    assert (shop.url, shop.event_types) == (secret_url, frozenset({"SkuChangedNotification"}))


def test_a_subscription_made_in_the_console_can_be_edited_and_deleted(
    console: Console, receiver: Receiver
) -> None:
    """Create with a header and a secret (never shown back), change its types, delete it;
    bad input gets the form again with the problem; the config file's cannot be edited."""
    made = console.post(
        "/admin/subscriptions/new",
        name="shop",
        url=receiver.url,
        event_types="SkuChangedNotification, " + BREAKPOINT,
        headers="X-Shop-Key: shop-header-value-42",
        secrets=SECRET,
        header_style="standard",
    )
    assert made.status_code == 303, made.text
    with console.engine.db.connect() as conn:
        shop = subs.get(conn, "shop")
    assert (shop.source, shop.header_style, dict(shop.headers)) == (
        "api",
        "standard",
        {"X-Shop-Key": "shop-header-value-42"},
    )
    form = console.get("/admin/subscriptions/shop/edit")
    assert "X-Shop-Key" in form
    assert "shop-header-value-42" not in form
    assert SECRET not in form
    console.post("/admin/subscriptions/shop/edit", url=receiver.url, event_types=BREAKPOINT)
    with console.engine.db.connect() as conn:
        shop = subs.get(conn, "shop")
    assert shop.event_types == frozenset({BREAKPOINT})
    assert dict(shop.headers) == {"X-Shop-Key": "shop-header-value-42"}  # kept when empty
    assert shop.secrets == (SECRET,)
    bad = console.post("/admin/subscriptions/new", name="x", url="ftp://nope", event_types="Nope")
    assert bad.status_code == 422
    assert "url" in bad.text
    owned = console.post("/admin/subscriptions/erp/edit", url=receiver.url, event_types="*")
    assert owned.status_code == 422
    assert "declared in the config file" in owned.text
    owned_form = console.get("/admin/subscriptions/erp/edit")  # typed in: no form, no Delete
    assert "declared in the config file: change it there" in owned_form
    assert "/admin/subscriptions/erp/delete" not in owned_form
    assert 'name="url"' not in owned_form
    console.post("/admin/subscriptions/shop/delete")
    with console.engine.db.connect() as conn:
        assert [s.name for s in subs.load(conn)] == ["erp"]


def test_the_log_tab_shows_the_detection_time_and_the_form_offers_directscale(
    console: Console,
) -> None:
    """A delivery's headers in the log include Deltahook-Event-Detected-At (the notification's
    stored time); the subscription form offers the directscale style."""
    cross_breakpoint(console)
    console.deliver()
    with console.engine.db.connect() as conn:
        [detected] = conn.execute(
            select(notifications.c.created_at).where(notifications.c.type == BREAKPOINT)
        ).scalars()
    html = console.get(f"/admin/types/{BREAKPOINT}/log")
    assert "Deltahook-Event-Detected-At" in html
    assert format_detected(detected) in html
    assert 'value="directscale"' in console.get("/admin/subscriptions/new")


@pytest.mark.parametrize(
    "value",
    [
        "",  # an empty field
        "yes",  # a word that is neither
        "ON",  # the switch posts lower case only
        None,  # no field at all
    ],
)
def test_the_switch_refuses_a_value_other_than_on_or_off(
    console: Console, value: str | None
) -> None:
    """A value the switch never posts is a 422 page that names the two values; the
    subscription stays as it was."""
    fields = {} if value is None else {"enabled": value}
    answer = console.post("/admin/subscriptions/erp/enabled", **fields)
    assert answer.status_code == 422
    assert "enabled must be 'on' or 'off'" in unescape(answer.text)
    with console.engine.db.connect() as conn:
        assert subs.get(conn, "erp").enabled is True
