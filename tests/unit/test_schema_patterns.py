"""The patterns the OpenAPI document gives clients describe only what the validators accept:
a value a client builds from a pattern is never refused."""

from __future__ import annotations

import re
from datetime import timedelta

from hypothesis import assume, given
from hypothesis import strategies as st

from deltahook.delivery.pages import CURSOR_PATTERN, decode_cursor, encode_cursor
from deltahook.delivery.retry import (
    DURATION_PATTERN,
    LONGEST_DELAY,
    SCHEDULE_PATTERN,
    parse_duration,
)
from deltahook.delivery.settings import SubscriptionSettings, check_url_target, url_pattern
from deltahook.delivery.signing import (
    ENV_REFERENCE,
    FRAMING_NAME_PATTERN,
    HEADER_NAME_PATTERN,
    HEADER_VALUE_PATTERN,
    SECRET_PATTERN,
    check_header,
    decode_secret,
)
from deltahook.feeds.limits import MAX_REMOVE_PATTERN, RemovalLimit


def matching(pattern: str) -> st.SearchStrategy[str]:
    """Texts ``pattern`` matches as a JSON Schema validator reads it (``$``: the very end)."""
    return st.from_regex(pattern.removeprefix("^").removesuffix("$"), fullmatch=True)


@given(url=matching(url_pattern(allow_private=False)))
def test_a_url_of_the_public_pattern_is_accepted_by_a_server_refusing_private_ones(
    url: str,
) -> None:
    """A webhook URL of the pattern served when private addresses are refused passes both the
    subscription's check and the private-address check."""
    SubscriptionSettings(name="shop", url=url, event_types=["*"])
    check_url_target(url, allow_private=False)


@given(url=matching(url_pattern(allow_private=True)))
def test_a_url_of_the_private_pattern_is_accepted_where_private_urls_are(url: str) -> None:
    """With allow_private_urls, the pattern's URLs (loopback included) are all accepted."""
    SubscriptionSettings(name="shop", url=url, event_types=["*"])
    check_url_target(url, allow_private=True)


def test_the_public_pattern_leaves_out_what_such_a_server_refuses() -> None:
    """This machine's names and IP literals are outside the pattern served without
    allow_private_urls, and inside the other."""
    refused = ["http://localhost/", "http://a.localhost:8080/", "http://127.0.0.1/", "http://0/"]
    public, private = url_pattern(allow_private=False), url_pattern(allow_private=True)
    assert not any(re.search(public, url) for url in refused)
    assert all(re.search(private, url) for url in refused[:3])
    assert re.search(public, "https://shop.example:8443/hooks/deltahook?token=a%20b")


@given(name=matching(HEADER_NAME_PATTERN), value=matching(HEADER_VALUE_PATTERN))
def test_a_header_of_the_patterns_is_accepted(name: str, value: str) -> None:
    """A header name of the pattern (not a framing one) with a value of the pattern passes."""
    assume(not re.search(FRAMING_NAME_PATTERN, name))
    check_header(name, value)


@given(secret=matching(SECRET_PATTERN))
def test_a_secret_of_the_pattern_is_accepted(secret: str) -> None:
    """A secret of the pattern is a ${VAR} or a whsec_ secret of 24 to 64 bytes."""
    assert ENV_REFERENCE.fullmatch(secret) or 24 <= len(decode_secret(secret)) <= 64


@given(text=matching(DURATION_PATTERN))
def test_a_duration_of_the_pattern_is_accepted(text: str) -> None:
    """A duration of the pattern is longer than zero and at most 10 years."""
    assert timedelta(0) < parse_duration(text) <= LONGEST_DELAY


@given(text=matching(SCHEDULE_PATTERN))
def test_each_delay_of_a_schedule_of_the_pattern_is_accepted(text: str) -> None:
    """Each delay of a schedule of the pattern reads (whether they shrink, no pattern says)."""
    assert all(parse_duration(item) > timedelta(0) for item in text.split(","))


@given(cursor=matching(CURSOR_PATTERN))
def test_a_cursor_of_the_pattern_is_a_position(cursor: str) -> None:
    """Every cursor of the pattern decodes, and encodes back to itself."""
    assume(not cursor.startswith("0") or cursor.startswith("0."))  # no leading zeros
    assert encode_cursor(*decode_cursor(cursor)) == cursor


@given(limit=matching(MAX_REMOVE_PATTERN))
def test_a_max_remove_of_the_pattern_is_accepted(limit: str) -> None:
    """Every max_remove of the pattern is a count or a percentage with its allowance."""
    RemovalLimit.parse(limit)
