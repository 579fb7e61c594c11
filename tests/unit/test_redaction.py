"""Credentials a receiver echoes back are blanked in every form it may echo them."""

from __future__ import annotations

import base64
from urllib.parse import quote

import pytest

from deltahook.delivery.credentials import Credentials, resolve
from deltahook.delivery.redaction import CUT
from tests.delivery_support import NEW_SECRET, SECRET
from tests.delivery_support import subscription as stored

TOKEN = "tok-very-secret-42"
BASIC = base64.b64encode(b"shop-user:pa55word-x").decode()
PREFIXLESS = SECRET.removeprefix("whsec_")
NEW_KEY = base64.b64decode(NEW_SECRET.removeprefix("whsec_"))

FORMS = {
    "the whole header value": f"Bearer {TOKEN}",
    "the token without its scheme": TOKEN,
    "the token in base64": base64.b64encode(TOKEN.encode()).decode(),
    "a basic credential without its scheme": BASIC,
    "a basic credential decoded": "shop-user:pa55word-x",
    "a basic password alone": "pa55word-x",
    "a custom header value": "k/123+456",
    "a header value escaped in JSON": "k\\/123+456",
    "a header value percent-encoded": "k%2F123%2B456",
    "the secret": SECRET,
    "the secret without whsec_": PREFIXLESS,
    "the secret without padding": NEW_SECRET.removeprefix("whsec_").rstrip("="),
    "the secret's key decoded": NEW_KEY.decode(),
    "the secret's key in hex": base64.b64decode(PREFIXLESS).hex(),
    "the secret's key in url-safe base64": base64.urlsafe_b64encode(
        base64.b64decode(PREFIXLESS)
    ).decode(),
    "the secret percent-encoded": quote(NEW_SECRET, safe=""),
}


@pytest.fixture(scope="module")
def creds() -> Credentials:
    headers = {
        "Authorization": f"Bearer {TOKEN}",
        "X-Basic": f"Basic {BASIC}",
        "X-Key": "k/123+456",
    }
    return resolve(stored(headers=headers, secrets=(SECRET, NEW_SECRET)), {})


@pytest.mark.parametrize("form", FORMS.values(), ids=list(FORMS))
def test_every_form_of_a_secret_is_blanked(creds: Credentials, form: str) -> None:
    """An answer echoing the form keeps its text around it, but not the form."""
    text = creds.redact(f"echo <{form}> end")
    assert text == "echo <[redacted]> end"


def test_an_answer_with_no_secret_is_kept_as_it_is(creds: Credentials) -> None:
    """Words that merely resemble credentials (the scheme, ordinary text) stay."""
    text = '{"error": "Bearer token expired for shop-user", "code": 401}'
    assert creds.redact(text) == text


def test_a_user_name_and_password_in_the_url_are_blanked_when_echoed() -> None:
    """The Basic credential a URL's user name and password stand for goes with the request,
    so a receiver echoing it back has it blanked as a header's would be, in every form."""
    url_creds = resolve(stored(url="https://shop-user:pa55word-x@shop.example/hook"), {})
    assert url_creds.headers == {"Authorization": f"Basic {BASIC}"}
    for form in (f"Basic {BASIC}", BASIC, "shop-user:pa55word-x", "pa55word-x"):
        assert url_creds.redact(f"echo <{form}> end") == "echo <[redacted]> end"


@pytest.mark.parametrize("form", FORMS.values(), ids=list(FORMS))
def test_the_start_of_a_form_a_cut_split_is_blanked(creds: Credentials, form: str) -> None:
    """An excerpt cut short (ending with the cut mark) inside an echoed form keeps no more of
    the form's start than what a shorter form leaves (a '%' of a percent-encoded '=')."""
    for length in range(4, len(form)):
        text = creds.redact(f"echo <{form[:length]}{CUT}")
        assert text is not None
        assert text.startswith("echo <[redacted]"), (length, text)
        assert text.endswith(CUT), (length, text)
        assert len(text) - len(f"echo <[redacted]{CUT}") < 3, (length, text)


def test_only_a_cut_excerpt_has_its_end_blanked(creds: Credentials) -> None:
    """An answer that ends with the start of a secret but was not cut is as the receiver wrote
    it (the receiver wrote no secret); three characters of one are kept after a cut too."""
    assert creds.redact(f"echo <{TOKEN[:8]}") == f"echo <{TOKEN[:8]}"
    assert creds.redact(f"echo <{TOKEN[:3]}{CUT}") == f"echo <{TOKEN[:3]}{CUT}"
    assert creds.redact(f"plain text{CUT}") == f"plain text{CUT}"
