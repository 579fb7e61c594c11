"""The sender's connections check request headers with less work than h11's own check
(``http11._checked``), and must come to exactly what h11 comes to: the same headers, or the
same refusal in the same words."""

from __future__ import annotations

import h11
from hypothesis import given, settings
from hypothesis import strategies as st

from deltahook.delivery.http11 import _checked

NAMES = st.sampled_from(
    [
        b"Host",
        b"Content-Type",
        b"content-length",
        b"Content-Length",
        b"Transfer-Encoding",
        b"Norce-Event-Message-Id",
        b"webhook-signature",
        b"X-A",
        b"Bad Name",
        b"Colon:",
        b"",
        b"\xc3\xa9",
    ]
)
VALUES = st.one_of(
    st.sampled_from(
        [
            b"",
            b"1",
            b"60",
            b"007",
            b" 5",
            b"5 ",
            b"1, 1",
            b"1,2",
            b"9" * 20,
            b"9" * 21,
            b"abc",
            b"chunked",
            b"Chunked",
            b"gzip",
            b"a\tb",
            b"line\r\nbreak",
            b"nul\x00",
            b"ctl\x01",
            b"caf\xc3\xa9",
            b"application/json; charset=utf-8",
        ]
    ),
    st.binary(max_size=12),
)
HEADERS = st.lists(st.tuples(NAMES, VALUES), max_size=6)


def _h11(headers: object) -> tuple[str, object]:
    """What h11 makes of a request with ``headers``: its header triples, or its refusal."""
    try:
        request = h11.Request(method=b"POST", target=b"/hooks", headers=headers)  # type: ignore[arg-type]
    except h11.LocalProtocolError as exc:
        return "refused", str(exc)
    return "made", request.headers._full_items


@settings(max_examples=400)
@given(headers=HEADERS)
def test_checked_headers_come_to_what_h11_makes_of_them(headers: list[tuple[bytes, bytes]]) -> None:
    """Any list of headers (bad names and values, Content-Length and Transfer-Encoding in
    every shape, repeats), with a Host first: the checked headers make the same request as
    the raw ones, or h11 refuses both in the same words."""
    raw = [(b"Host", b"127.0.0.1:8080"), *headers]
    assert _h11(_checked(raw)) == _h11(raw)
    assert _h11(_checked(raw)) == _h11(raw)  # again, with the names it has seen


def test_the_usual_request_headers_are_checked_without_h11s_normalizing() -> None:
    """A delivery's usual headers come back checked (h11 takes them as they are)."""
    raw = [
        (b"Host", b"127.0.0.1:8080"),
        (b"Content-Type", b"application/json; charset=utf-8"),
        (b"Norce-Event-Type", b"SkuChangedNotification"),
        (b"Content-Length", b"60"),
    ]
    checked = _checked(raw)
    assert not isinstance(checked, list)
    assert checked.raw_items() == raw
