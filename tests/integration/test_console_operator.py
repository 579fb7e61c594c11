"""The console as an operator meets it: forms that go wrong, sessions that end mid-task."""

from __future__ import annotations

import io
import random
import re
import string
from collections.abc import Iterator
from html import unescape
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from deltahook.delivery import subscriptions as subs
from deltahook.delivery.receiver import Receiver
from tests.api_support import KEY, STOCK, client
from tests.console_support import form_token, sign_in
from tests.delivery_support import NEW_SECRET, SECRET
from tests.integration.test_console_pages import BREAKPOINT, Console, notice


@pytest.fixture
def console(database_url: str, receiver: Receiver) -> Iterator[Console]:
    with Console(database_url, receiver) as made:
        yield made


def _value(html: str, name: str) -> str:
    """The value an input named ``name`` is filled with in a page ('' when none)."""
    tag = re.search(rf'<input name="{name}"[^>]*>', html)
    assert tag, f"no input {name} in the page"
    value = re.search(r' value="([^"]*)"', tag.group(0))
    return unescape(value.group(1)) if value else ""


def test_a_refused_new_subscription_keeps_what_the_operator_typed(console: Console) -> None:
    """The form comes back with the name, URL, event types and header style given (never the
    header values or secrets, which it says to enter again)."""
    answer = console.post(
        "/admin/subscriptions/new",
        name="shop-eu",
        url="ftp://shop.example/hooks",
        event_types=f"SkuChangedNotification,{BREAKPOINT}",
        headers="X-Shop-Key: typed-header-value-9",
        secrets="whsec_typedsecretvalue",
        header_style="standard",
    )
    assert answer.status_code == 422
    html = answer.text
    assert _value(html, "name") == "shop-eu"
    assert _value(html, "url") == "ftp://shop.example/hooks"
    assert _value(html, "event_types") == f"SkuChangedNotification,{BREAKPOINT}"
    assert re.search(r'<option value="standard"[^>]* selected', html)
    assert "typed-header-value-9" not in html
    assert "whsec_typedsecretvalue" not in html
    assert "enter them again" in html


def test_a_refused_edit_keeps_the_operators_changes_not_the_stored_values(
    console: Console, receiver: Receiver
) -> None:
    """An edit refused for a bad URL shows the URL and event types the operator typed, so
    that fixing one field does not mean typing the others again; nothing is stored."""
    made = console.post(
        "/admin/subscriptions/new", name="shop", url=receiver.url, event_types=BREAKPOINT
    )
    assert made.status_code == 303, made.text
    answer = console.post(
        "/admin/subscriptions/shop/edit", url="not a url", event_types="SkuChangedNotification"
    )
    assert answer.status_code == 422
    assert _value(answer.text, "url") == "not a url"
    assert _value(answer.text, "event_types") == "SkuChangedNotification"
    with console.engine.db.connect() as conn:
        shop = subs.get(conn, "shop")
    assert (shop.url, shop.event_types) == (receiver.url, frozenset({BREAKPOINT}))


def test_a_form_posted_after_the_session_ended_signs_in_back_to_its_page(
    console: Console,
) -> None:
    """A press of a button once the session is gone asks to sign in and then returns to the
    page the form was on (the Referer), never to the form's POST-only action (a 405 page)."""
    log = f"/admin/types/{BREAKPOINT}/log?status=dead"
    console.client.cookies.clear()
    answer = console.client.post(
        "/admin/deliveries/some-id/resend",
        data={"csrf": console.csrf},
        headers={"Referer": f"http://testserver{log}"},
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/admin/signin?next={quote(log, safe='')}&unsaved=1"
    form = console.client.get(answer.headers["location"]).text
    signed = console.client.post(
        "/admin/signin",
        data={"token": form_token(form, "token"), "key": KEY, "next": form_token(form, "next")},
    )
    assert signed.headers["location"] == log
    assert console.client.get(log).status_code == 200
    console.client.cookies.clear()
    bare = console.client.post("/admin/types/x/log/retry", data={"csrf": console.csrf})
    assert bare.headers["location"] == f"/admin/signin?next={quote('/admin/', safe='')}&unsaved=1"


def test_a_form_posted_after_the_session_ended_says_nothing_was_done_before_and_after(
    console: Console, receiver: Receiver
) -> None:
    """An edit saved once the session had ended: the sign-in form says nothing was done, and
    after signing in its page comes back (a GET, nothing posted again) saying so; what was
    typed is not carried through (no secret in a URL or a cookie). A page merely opened
    after the session ended says nothing of the kind."""
    console.post("/admin/subscriptions/new", name="shop", url=receiver.url, event_types=BREAKPOINT)
    edit = "/admin/subscriptions/shop/edit"
    console.client.cookies.clear()
    answer = console.client.post(
        edit,
        data={"csrf": console.csrf, "url": receiver.url, "event_types": "*", "secrets": SECRET},
        headers={"Referer": f"http://testserver{edit}"},
    )
    form = console.client.get(answer.headers["location"]).text
    assert "nothing was done" in form
    assert SECRET not in answer.headers["location"] + form
    signed = console.client.post(
        "/admin/signin",
        data={
            "token": form_token(form, "token"),
            "key": KEY,
            "next": form_token(form, "next"),
            "unsaved": form_token(form, "unsaved"),
        },
    )
    assert signed.headers["location"] == edit
    assert notice(console.get(edit)).startswith("Nothing was done: your session had ended")
    with console.engine.db.connect() as conn:
        assert subs.get(conn, "shop").event_types == frozenset({BREAKPOINT})
    console.client.cookies.clear()
    opened = console.client.get(edit)
    assert "unsaved" not in opened.headers["location"]
    assert "nothing was done" not in console.client.get(opened.headers["location"]).text


def test_a_job_with_more_rejects_than_shown_says_how_many_the_page_leaves_out(
    console: Console,
) -> None:
    """The job page lists the first 1,000 rejects by line and says they are the first of how
    many, so an operator does not take them for the whole of a bad feed."""
    bad = b'{"PartNo": 5}\n' * 1003
    console.engine.ingest("sku_onhand", io.BytesIO(bad), fmt="ndjson")
    newest = console.get("/admin/jobs").split('data-job="')[1].split('"')[0]
    job = console.get(f"/admin/jobs/{newest}")
    rows = job.split('id="rejects"')[1].split("</table>")[0]
    assert rows.count("<tr>") == 1 + 1000  # the heading and the rejects shown
    assert "the first 1,000 of 1,003 rejected records" in job


def test_an_older_log_page_links_back_to_the_newest_and_resend_stays_on_it(
    console: Console,
) -> None:
    """Page two of a filtered log links to page one with the same filters; a row's Resend
    comes back to page two, not to page one."""
    console.ingest(*[STOCK | {"PartNo": f"P-{n}"} for n in range(55)])
    console.ingest(*[STOCK | {"PartNo": f"P-{n}", "OnhandValue": 20} for n in range(55)])
    first = console.get(f"/admin/types/{BREAKPOINT}/log?status=pending")
    older = unescape(first.split('class="more" href="')[1].split('"')[0])
    second = console.get(older)
    assert second.count("data-delivery=") == 5
    newest = unescape(second.split('class="newest" href="')[1].split('"')[0])
    assert newest == f"/admin/types/{BREAKPOINT}/log?status=pending"
    assert 'class="newest"' not in first
    delivery = second.split('data-delivery="')[1].split('"')[0]
    back = unescape(
        second.split(f"/admin/deliveries/{delivery}/resend")[1]
        .split('name="back" value="')[1]
        .split('"')[0]
    )
    answer = console.post(f"/admin/deliveries/{delivery}/resend", back=back)
    assert answer.headers["location"] == older
    assert notice(console.follow(answer)).startswith("Resend: ")


def test_the_browsers_icon_request_is_answered_without_a_key(console: Console) -> None:
    """A browser asks every origin for /favicon.ico (opening /openapi.json from the docs page,
    say): an empty answer, not a 401 that shows as an error in its console."""
    console.client.cookies.clear()
    icon = console.client.get("/favicon.ico")
    assert icon.status_code == 204
    assert icon.content == b""


def test_a_notice_is_said_by_the_console_never_by_a_link(console: Console) -> None:
    """A page shows the notice its form's redirect left, once; `?notice=` text in a link is
    not shown (a crafted link made the console seem to say anything), nor a notice left for
    another session."""
    spoof = console.get("/admin/?notice=Session expired: sign in at https://evil.example")
    assert notice(spoof) == ""
    assert "evil.example" not in spoof
    answer = console.post("/admin/subscriptions/erp/recover", since="24h")
    assert answer.headers["location"] == "/admin/subscriptions"
    flash = answer.cookies["deltahook_flash"]
    assert notice(console.follow(answer)) == "erp: queued 0 failed deliveries again"
    assert notice(console.get("/admin/subscriptions")) == ""  # said once
    other = TestClient(console.client.app, follow_redirects=False)
    sign_in(other)
    other.cookies.set("deltahook_flash", flash)
    assert notice(other.get("/admin/subscriptions").text) == ""
    other.close()


def test_a_test_send_shows_its_answer_on_a_page_whose_reload_sends_nothing(
    console: Console, receiver: Receiver
) -> None:
    """Test send answers 303 to the Configuration tab, which shows the answer (it was shown
    at the POST's address, so a reload sent the test again); reloading that page shows the
    tab without it, and the receiver got one test."""
    answer = console.post(f"/admin/types/{BREAKPOINT}/test", subscription="erp")
    assert answer.headers["location"] == f"/admin/types/{BREAKPOINT}"
    shown = console.follow(answer)
    assert "Test send: 200" in shown
    reloaded = console.get(f"/admin/types/{BREAKPOINT}")
    assert "data-test-result" not in reloaded
    (received,) = receiver.wait_for(1)
    assert received.message_id in shown
    assert receiver.answered == 1


def test_a_test_send_whose_answer_has_a_long_error_still_shows_it(
    console: Console, receiver: Receiver
) -> None:
    """A receiver that redirects to another host gets its test refused with a reason naming
    that host, which the receiver chooses (here 9,000 characters): the flash cookie that
    carries the answer to the Configuration tab must still fit what a browser keeps
    (4,096 bytes), or the answer is never shown."""
    letters = random.Random(5).choices(string.ascii_lowercase + string.digits, k=150 * 60)
    far = ".".join("".join(letters[n : n + 60]) for n in range(0, len(letters), 60))
    receiver.fail(1, status=302, headers={"Location": f"http://{far}/hooks"})
    answer = console.post(f"/admin/types/{BREAKPOINT}/test", subscription="erp")
    assert answer.status_code == 303
    cookie = answer.cookies["deltahook_flash"]
    assert len("deltahook_flash=" + cookie) <= 4096
    assert "data-test-result" in console.follow(answer)


TRANSPORT = {"host", "accept", "accept-encoding", "connection", "content-length", "user-agent"}
"""Headers the HTTP client adds to every request (the Log tab lists those the delivery sets)."""


def _headers_sent(html: str) -> list[tuple[str, str]]:
    """The (name, value) rows of the first "Headers sent" table in a Log tab."""
    table = html.split("<h3>Headers sent</h3>")[1].split("</table>", maxsplit=1)[0]
    cells = re.findall(r'<td class="mono">(.*?)</td>', table)
    return [(unescape(n), unescape(v)) for n, v in zip(cells[::2], cells[1::2], strict=True)]


@pytest.mark.parametrize(
    ("style", "headers"),
    [
        ("standard", "X-Shop-Key: shop-value-4a1\nContent-Type: text/plain"),  # webhook-* twice
        ("norce", "X-Shop-Key: shop-value-4a1"),  # webhook-timestamp was missing
    ],
)
def test_the_log_lists_the_headers_a_delivery_was_sent_with_each_once(
    console: Console, receiver: Receiver, style: str, headers: str
) -> None:
    """ "Headers sent" names what the receiver got, each header once: a signed subscription's
    webhook-id, webhook-timestamp and webhook-signature, and only the custom headers that go
    out (one named like a system header is dropped when sending); values of custom headers
    and the signature are not shown."""
    made = console.post(
        "/admin/subscriptions/new",
        name="shop",
        url=receiver.url,
        event_types=BREAKPOINT,
        header_style=style,
        headers=headers,
        secrets="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    )
    assert made.status_code == 303, made.text
    console.ingest(STOCK)
    console.ingest(STOCK | {"OnhandValue": 20})
    console.deliver()
    [sent] = [r for r in receiver.wait_for(2) if "x-shop-key" in r.headers]
    shown = _headers_sent(console.get(f"/admin/types/{BREAKPOINT}/log?subscription=shop"))
    names = [name.lower() for name, _ in shown]
    assert sorted(names) == sorted(set(sent.headers) - TRANSPORT)
    assert dict(shown)["Content-Type"] == sent.headers["content-type"]
    assert "shop-value-4a1" not in str(shown)
    assert sent.headers["webhook-signature"] not in str(shown)


def test_a_subscription_removed_from_the_config_file_is_not_said_to_be_declared_there(
    console: Console,
) -> None:
    """Once the config file no longer declares erp, its card and row say so and offer no
    switch (switching it on is refused: declare it again); they said it was declared in the
    file and could be switched on here."""
    with console.engine.db.begin() as conn:
        subs.sync(conn, [], now=console.engine.clock())
    card = console.get(f"/admin/types/{BREAKPOINT}").split('data-subscription="erp"')[1]
    row = console.get("/admin/subscriptions").split('data-subscription="erp"')[1]
    for html in (card.split("</section>")[0], row.split("</tr>")[0]):
        assert "/admin/subscriptions/erp/enabled" not in html
        assert "declare it there again" in unescape(html)
    assert "Declared in the config file" not in card


def test_the_first_of_two_sign_in_forms_opened_signs_in(console: Console) -> None:
    """Two tabs whose session ended both show the sign-in form; the one signed in first
    (not the last one opened) lets the operator in: each form's token replaced the other's,
    and the first was refused as stale."""
    browser = TestClient(console.client.app, follow_redirects=False)
    first = browser.get("/admin/signin?next=/admin/jobs")
    browser.get("/admin/signin?next=/admin/subscriptions")
    answer = browser.post(
        "/admin/signin",
        data={"token": form_token(first.text, "token"), "key": KEY, "next": "/admin/jobs"},
    )
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/admin/jobs"
    browser.close()


def test_a_sign_in_form_left_open_too_long_is_offered_again(console: Console) -> None:
    """Once the form's token cookie has run out (10 minutes), signing in answers the form
    again, saying so, with the page to return to and a token that works: it was an error page
    saying to reload, and reloading posted the stale form again."""
    browser = TestClient(console.client.app, follow_redirects=False)
    left = browser.get("/admin/signin?next=/admin/jobs")
    browser.cookies.clear()  # what the browser does when the cookie's max-age runs out
    fields = {"token": form_token(left.text, "token"), "key": KEY, "next": "/admin/jobs"}
    again = browser.post("/admin/signin", data=fields)
    assert again.status_code == 403
    assert "The sign-in form had expired" in unescape(again.text)
    assert KEY not in again.text
    fields["next"] = form_token(again.text, "next")
    fields["token"] = form_token(again.text, "token")
    answer = browser.post("/admin/signin", data=fields)
    assert answer.headers["location"] == "/admin/jobs"
    browser.close()


def test_a_form_from_before_signing_in_again_does_nothing_and_shows_its_page_again(
    console: Console,
) -> None:
    """A tab left open while another signed in again holds forms with the old session's
    token: pressing one does nothing, and leads back to its page (the Referer), fresh, saying
    so; it was an error page saying to reload, and reloading posted the stale form again."""
    stale = console.csrf
    console.csrf = sign_in(console.client)  # another tab signed in again
    page = f"/admin/types/{BREAKPOINT}"
    answer = console.client.post(
        "/admin/subscriptions/erp/enabled",
        data={"csrf": stale, "enabled": "off", "back": page},
        headers={"Referer": f"http://testserver{page}"},
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == page
    shown = console.follow(answer)
    assert notice(shown).startswith("Nothing was done")
    assert f'value="{console.csrf}"' in shown
    with console.engine.db.connect() as conn:
        assert subs.get(conn, "erp").enabled is True


def test_the_try_it_address_opened_again_leads_to_its_form(console: Console) -> None:
    """Try it answers at its form's address (a POST); that address opened again (a link
    copied from the address bar, a restored tab) leads to the Event Settings tab and its
    form, not to a 405 page."""
    answer = console.client.get(f"/admin/types/{BREAKPOINT}/try")
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/admin/types/{BREAKPOINT}/settings#try"
    assert console.client.get("/admin/types/NoSuchType/try").status_code == 404


def test_the_log_filtered_by_a_deleted_subscription_says_so_in_its_filter(
    console: Console, receiver: Receiver
) -> None:
    """A deleted subscription's deliveries stay in the log; filtered by its name, the
    Subscription filter shows that name (it showed "Any subscription" over a list of that
    subscription's deliveries alone)."""
    made = console.post(
        "/admin/subscriptions/new", name="shop", url=receiver.url, event_types=BREAKPOINT
    )
    assert made.status_code == 303, made.text
    console.ingest(STOCK)
    console.ingest(STOCK | {"OnhandValue": 20})
    console.post("/admin/subscriptions/shop/delete")
    html = console.get(f"/admin/types/{BREAKPOINT}/log?subscription=shop")
    assert html.count("data-delivery=") == 1
    assert re.search(r'<option value="shop"[^>]* selected', html)


def _new_shop_with_headers(console: Console, receiver: Receiver, **more: str) -> None:
    """Subscription shop made in the console, with two custom headers (and ``more`` fields)."""
    headers = "X-Token: shop-token-value-1\nX-Shop: eu"
    console.post(
        "/admin/subscriptions/new",
        name="shop",
        url=receiver.url,
        event_types=BREAKPOINT,
        headers=headers,
        **more,
    )


def test_the_edit_form_says_what_its_empty_and_filled_write_only_fields_do(
    console: Console, receiver: Receiver
) -> None:
    """Header values and secrets are never shown, so the form says what leaving them empty
    keeps and that what is typed replaces every stored one (adding one header dropped the
    others unannounced); an unsigned subscription's said "empty keeps the none"."""
    _new_shop_with_headers(console, receiver)
    form = re.sub(r"\s+", " ", unescape(console.get("/admin/subscriptions/shop/edit")))
    assert "empty keeps X-Shop, X-Token; headers typed here replace them all" in form
    assert "empty keeps none; secrets typed here replace them all" in form


def test_the_edit_form_removes_a_header_and_keeps_or_removes_the_stored_secrets(
    console: Console, receiver: Receiver
) -> None:
    """A tick beside a stored header's name removes that header and keeps the others; a
    secret typed with "keep the stored secrets" signs beside the stored one (a rotation);
    "remove the stored secrets" leaves the subscription unsigned; ticking both is refused.
    No value is shown on the way."""
    _new_shop_with_headers(console, receiver, secrets=SECRET)
    form = console.get("/admin/subscriptions/shop/edit")
    assert 'name="remove_header:X-Token"' in form
    assert "shop-token-value-1" not in form
    assert SECRET not in form
    edit = {"url": receiver.url, "event_types": BREAKPOINT}
    console.post("/admin/subscriptions/shop/edit", **edit, **{"remove_header:X-Token": "on"})
    console.post("/admin/subscriptions/shop/edit", **edit, secrets=NEW_SECRET, keep_secrets="on")
    with console.engine.db.connect() as conn:
        shop = subs.get(conn, "shop")
    assert (dict(shop.headers), shop.secrets) == ({"X-Shop": "eu"}, (NEW_SECRET, SECRET))
    both = console.post(
        "/admin/subscriptions/shop/edit", **edit, keep_secrets="on", remove_secrets="on"
    )
    assert both.status_code == 422
    assert "keep the stored ones or remove them, not both" in both.text
    console.post("/admin/subscriptions/shop/edit", **edit, remove_secrets="on")
    with console.engine.db.connect() as conn:
        assert subs.get(conn, "shop").secrets == ()


def test_retry_all_failed_says_which_subscriptions_it_left_because_off_or_deleted(
    console: Console, receiver: Receiver
) -> None:
    """A press that queues nothing because the failed deliveries' subscription is off (or was
    deleted) says so, per subscription, with what to do; it answered "0" without a reason."""
    console.post("/admin/subscriptions/new", name="shop", url=receiver.url, event_types=BREAKPOINT)
    receiver.fail(2, status=503)
    console.ingest(STOCK)
    console.ingest(STOCK | {"OnhandValue": 20})
    console.deliver()
    console.post("/admin/subscriptions/erp/enabled", enabled="off")
    console.post("/admin/subscriptions/shop/delete")
    answer = console.post(f"/admin/types/{BREAKPOINT}/log/retry", status="failed")
    assert notice(console.follow(answer)) == (
        "Queued 0 failed deliveries again. Left alone, the failed deliveries of "
        "erp (switched off: switch it on first), shop (deleted)"
    )
    one = console.post(f"/admin/types/{BREAKPOINT}/log/retry", subscription="erp")
    assert "erp (switched off: switch it on first)" in notice(console.follow(one))


def test_a_delivery_of_a_deleted_subscription_offers_no_resend_and_says_why(
    console: Console, receiver: Receiver
) -> None:
    """Its log row says the subscription was deleted instead of a Resend button, and a resend
    posted anyway says "subscription deleted" (it said "subscription off")."""
    console.post("/admin/subscriptions/new", name="shop", url=receiver.url, event_types=BREAKPOINT)
    console.ingest(STOCK)
    console.ingest(STOCK | {"OnhandValue": 20})
    console.deliver()
    console.post("/admin/subscriptions/shop/delete")
    html = console.get(f"/admin/types/{BREAKPOINT}/log?subscription=shop")
    delivery = html.split('data-delivery="')[1].split('"')[0]
    assert f"/admin/deliveries/{delivery}/resend" not in html
    assert "Its subscription was deleted: there is nowhere to resend it." in html
    answer = console.post(f"/admin/deliveries/{delivery}/resend")
    assert notice(console.follow(answer)) == "Resend: subscription deleted"


def _empty(html: str) -> str:
    """A page's empty-list message as written, links and all (they are the next step)."""
    found = re.search(r"<(p|td)[^>]* data-empty>(.*?)</\1>", html, re.S)
    assert found, "no empty-list message in the page"
    return re.sub(r"\s+", " ", unescape(found.group(2)))


LOG = f"/admin/types/{BREAKPOINT}/log"


@pytest.mark.parametrize(
    ("path", "says"),
    [
        # no subscription: the form that adds one
        ("/admin/subscriptions", 'No subscriptions yet: <a href="/admin/subscriptions/new">'),
        # no active type, for want of a subscription: add one or switch one on
        ("/admin/", "No active event types: a type is active when a subscription that is on"),
        # a type nobody receives: add a subscription for it
        (f"/admin/types/{BREAKPOINT}", '<a href="/admin/subscriptions/new">add a subscription'),
        # no delivery at all: what queues one
        (LOG, f"No deliveries of {BREAKPOINT} yet: one is queued for each subscription"),
        # filtered to nothing: the same tab without its filters
        (f"{LOG}?status=dead", f'No deliveries match these filters: <a href="{LOG}">clear'),
        # no feed run: how to run one
        ("/admin/jobs", "No ingest jobs yet: run a feed with <code>deltahook ingest KIND FILE"),
    ],
)
def test_an_empty_list_says_what_is_empty_and_the_next_step(
    database_url: str, path: str, says: str
) -> None:
    """On a store with nothing in it, each list page says what it has none of and, where
    there is one, links the next step (they said "No ingest jobs yet." and the like)."""
    with client(database_url) as test_client:
        sign_in(test_client)
        answer = test_client.get(path)
    assert answer.status_code == 200
    assert says in _empty(answer.text)


def test_a_job_without_rejects_says_none_of_its_records_was_rejected(console: Console) -> None:
    """The job page's rejects table says that no record was rejected (it said "None.")."""
    console.ingest(STOCK)
    newest = console.get("/admin/jobs").split('data-job="')[1].split('"')[0]
    assert _empty(console.get(f"/admin/jobs/{newest}")) == "No record of this feed was rejected."


def _field_problem(html: str, name: str) -> str:
    """The problem shown beside the field named ``name`` (its ``aria-describedby`` target),
    '' when the field is not marked invalid."""
    tag = re.search(rf'<(?:input|textarea|select) name="{re.escape(name)}"[^>]*>', html)
    assert tag, f"no field {name} in the page"
    if 'aria-invalid="true"' not in tag.group(0):
        return ""
    described = re.search(r'aria-describedby="([^"]+)"', tag.group(0))
    assert described, f"{name} is marked invalid without saying why"
    said = re.search(rf'id="{described.group(1)}"[^>]*>(.*?)</', html, re.S)
    assert said, f"nothing with the id {described.group(1)}"
    return unescape(said.group(1)).strip()


def test_a_refused_subscription_form_says_what_is_wrong_next_to_each_field(
    console: Console, receiver: Receiver
) -> None:
    """Each problem of a refused form is shown beside its field (marked invalid, the first
    one focused), in plain words (no validator jargon); a field without a problem is not
    marked."""
    answer = console.post(
        "/admin/subscriptions/new", name="shop", url="ftp://shop.example/hooks", event_types="*"
    )
    assert answer.status_code == 422
    html = answer.text
    assert _field_problem(html, "url").startswith("the URL must be http:// or https://")
    assert _field_problem(html, "name") == _field_problem(html, "event_types") == ""
    assert "Value error" not in html
    assert re.search(r'<input name="url"[^>]* autofocus', html)
    typo = console.post(
        "/admin/subscriptions/new", name="shop", url=receiver.url, event_types="NoSuchType"
    )
    assert "unknown event type 'NoSuchType'" in _field_problem(typo.text, "event_types")
    headers = console.post(
        "/admin/subscriptions/new",
        name="shop",
        url=receiver.url,
        event_types="*",
        headers="no colon here",
    )
    assert "write it as 'Name: value'" in _field_problem(headers.text, "headers")
    taken = console.post("/admin/subscriptions/new", name="erp", url=receiver.url, event_types="*")
    assert "declares a subscription named 'erp'" in _field_problem(taken.text, "name")


def test_a_log_page_past_the_newest_never_says_the_type_has_no_deliveries(
    console: Console,
) -> None:
    """An older page with nothing on it (its deliveries purged since its link was made) or
    a cursor that cannot be read (an edited link) says so and links the newest deliveries;
    it said "No deliveries of ... yet" while the first page lists some."""
    console.ingest(STOCK)
    console.ingest(STOCK | {"OnhandValue": 20})
    assert "data-delivery=" in console.get(LOG)
    past = _empty(console.get(f"{LOG}?status=dead&cursor=1.0"))
    assert "yet" not in past
    assert past.startswith("No older deliveries match these filters")
    assert f'<a href="{LOG}?status=dead">' in past
    unread = _empty(console.get(f"{LOG}?cursor=not-a-cursor"))
    assert unread.startswith("This page's position in the log (its cursor) cannot be read")
    assert f'<a href="{LOG}?">' in unread or f'<a href="{LOG}">' in unread


def test_recover_on_a_subscription_switched_off_says_so_on_the_subscriptions_page(
    console: Console,
) -> None:
    """Recover pressed on the row of a subscription that is off leads back to the
    Subscriptions page (a 303: a reload posts nothing), whose notice says to switch it on
    first; it answered a 409 error page at the POST's address, and nothing is queued."""
    console.post("/admin/subscriptions/erp/enabled", enabled="off")
    answer = console.post("/admin/subscriptions/erp/recover", since="24h")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/admin/subscriptions"
    said = notice(console.follow(answer))
    assert said.startswith("erp: nothing queued again: subscription 'erp' is off: switch it on")
    unknown = console.post("/admin/subscriptions/nosuch/recover", since="24h")
    assert unknown.status_code == 404


def test_a_log_filter_value_the_tab_ignores_is_not_shown_as_a_filter(console: Console) -> None:
    """A hand-edited Log link with a status or time range the tab does not know lists every
    delivery (the value is ignored) and says so: the empty state says there are none yet, not
    that "these filters" match nothing, and the value is not carried into Retry all's form."""
    html = console.get(f"{LOG}?status=bogus&since=5y")
    assert _empty(html).startswith(f"No deliveries of {BREAKPOINT} yet")
    assert 'name="status" value="bogus"' not in html
    assert 'name="since" value="5y"' not in html
