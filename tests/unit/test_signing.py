"""Standard Webhooks signatures and the headers of an outgoing request."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from deltahook.delivery.signing import (
    CONTENT_TYPE,
    HeaderStyle,
    check_header,
    decode_secret,
    generate_secret,
    request_headers,
    sign,
    signature_header,
)

OLD_SECRET = generate_secret(bytes(range(24)))
NEW_SECRET = generate_secret(bytes(range(100, 132)))
OTHER_SECRET = generate_secret(b"\xff" * 24)
BODY = b'{"ClientId":1042,"PartNo":"TSHIRT-BLK-M","EntityChanged":"tClientProductSku"}'
MESSAGE_ID = "msg_01JDQ3Z8W4K7Q2M9V6T5R1X0YB"
FIXED_TIME = datetime(2026, 11, 24, 10, 0, 0, tzinfo=UTC)


def headers_for(
    *,
    style: HeaderStyle = "standard",
    secrets: Sequence[str] = (),
    custom: Mapping[str, str] | None = None,
    timestamp: datetime = FIXED_TIME,
) -> dict[str, str]:
    """Headers of a SkuChangedNotification request with the given options."""
    return request_headers(
        style=style,
        message_id=MESSAGE_ID,
        event_type="SkuChangedNotification",
        timestamp=timestamp,
        body=BODY,
        secrets=secrets,
        custom=custom or {},
    )


def test_signature_matches_the_reference_library() -> None:
    """sign() gives exactly what the standardwebhooks package computes for the same input."""
    unix = 1_795_600_000
    expected = Webhook(OLD_SECRET).sign(
        MESSAGE_ID, datetime.fromtimestamp(unix, tz=UTC), BODY.decode()
    )
    assert sign(secret=OLD_SECRET, message_id=MESSAGE_ID, timestamp=unix, body=BODY) == expected


@pytest.mark.parametrize("style", ["standard", "norce"])
def test_signed_request_verifies_with_the_reference_library(style: HeaderStyle) -> None:
    """A receiver using standardwebhooks accepts our request in either header style."""
    # The library checks the timestamp against its own clock, so this one test uses the clock.
    headers = headers_for(style=style, secrets=[OLD_SECRET], timestamp=datetime.now(UTC))
    assert Webhook(OLD_SECRET).verify(BODY, headers)["PartNo"] == "TSHIRT-BLK-M"


@pytest.mark.parametrize("receiver_secret", [OLD_SECRET, NEW_SECRET])
def test_during_rotation_either_secret_verifies(receiver_secret: str) -> None:
    """Signed with two secrets, a request verifies for a receiver holding either one."""
    headers = headers_for(secrets=[OLD_SECRET, NEW_SECRET], timestamp=datetime.now(UTC))
    assert len(headers["webhook-signature"].split(" ")) == 2
    Webhook(receiver_secret).verify(BODY, headers)


def test_a_receiver_with_another_secret_rejects_the_request() -> None:
    """A signature made with other secrets does not verify."""
    headers = headers_for(secrets=[OLD_SECRET, NEW_SECRET], timestamp=datetime.now(UTC))
    with pytest.raises(WebhookVerificationError):
        Webhook(OTHER_SECRET).verify(BODY, headers)


def test_a_tampered_body_fails_verification() -> None:
    """Changing one byte of the body breaks the signature."""
    headers = headers_for(secrets=[OLD_SECRET], timestamp=datetime.now(UTC))
    with pytest.raises(WebhookVerificationError):
        Webhook(OLD_SECRET).verify(BODY.replace(b"1042", b"1043"), headers)


def test_the_same_secret_twice_signs_once() -> None:
    """A secret listed twice adds no second, identical signature."""
    header = signature_header(
        [OLD_SECRET, OLD_SECRET], message_id=MESSAGE_ID, timestamp=1, body=BODY
    )
    assert " " not in header


def test_norce_style_headers() -> None:
    """Norce style sends the Norce-Event-* headers with an ISO 8601 timestamp in UTC."""
    assert headers_for(style="norce") == {
        "Content-Type": "application/json; charset=utf-8",
        "Norce-Event-Message-Id": MESSAGE_ID,
        "Norce-Event-Type": "SkuChangedNotification",
        "Norce-Event-Timestamp": "2026-11-24T10:00:00+00:00",
    }


def test_norce_style_with_secrets_adds_the_signed_webhook_headers() -> None:
    """A signature is defined over webhook-id and webhook-timestamp, so Norce style sends them."""
    headers = headers_for(style="norce", secrets=[OLD_SECRET])
    assert headers["webhook-id"] == MESSAGE_ID
    assert headers["webhook-timestamp"] == str(int(FIXED_TIME.timestamp()))
    assert headers["webhook-signature"].startswith("v1,")
    assert headers["Norce-Event-Message-Id"] == MESSAGE_ID


def test_standard_style_headers() -> None:
    """Standard style sends webhook-id, unix-seconds webhook-timestamp and the event type."""
    assert headers_for(style="standard") == {
        "Content-Type": CONTENT_TYPE,
        "webhook-id": MESSAGE_ID,
        "webhook-timestamp": "1795514400",
        "webhook-event-type": "SkuChangedNotification",
    }


@pytest.mark.parametrize(
    ("timestamp", "expected"),
    [
        (datetime(2026, 11, 24, 10, 0, tzinfo=UTC), "2026-11-24T10:00:00+00:00"),  # UTC as is
        (
            datetime(2026, 11, 24, 11, 0, tzinfo=timezone(timedelta(hours=1))),
            "2026-11-24T10:00:00+00:00",
        ),  # Stockholm winter time is converted to UTC
        (
            datetime(2026, 11, 24, 10, 0, 0, 987654, tzinfo=UTC),
            "2026-11-24T10:00:00+00:00",
        ),  # microseconds are dropped, matching webhook-timestamp
    ],
)
def test_norce_timestamp_is_iso_8601_utc_seconds(timestamp: datetime, expected: str) -> None:
    """Norce-Event-Timestamp is ISO 8601 in UTC with an explicit offset, to the second."""
    assert headers_for(style="norce", timestamp=timestamp)["Norce-Event-Timestamp"] == expected


def test_a_naive_timestamp_is_refused() -> None:
    """A timestamp without a timezone would be ambiguous, so it is refused."""
    with pytest.raises(ValueError, match="timezone-aware"):
        headers_for(timestamp=datetime(2026, 11, 24, 10, 0))


@pytest.mark.parametrize(
    ("style", "custom_name"),
    [
        ("norce", "norce-event-type"),  # lower case still collides
        ("norce", "NORCE-EVENT-MESSAGE-ID"),  # upper case too
        ("norce", "content-type"),  # the content type is a system header
        ("standard", "Webhook-Id"),  # standard names, any case
        ("standard", "WEBHOOK-SIGNATURE"),  # a forged signature never survives
    ],
)
def test_system_headers_override_custom_ones_case_insensitively(
    style: HeaderStyle, custom_name: str
) -> None:
    """A custom header named like a system header, in any case, is dropped."""
    headers = headers_for(style=style, secrets=[OLD_SECRET], custom={custom_name: "spoofed"})
    same_name = [name for name in headers if name.lower() == custom_name.lower()]
    assert len(same_name) == 1
    assert headers[same_name[0]] != "spoofed"


def test_other_custom_headers_are_sent() -> None:
    """Custom headers that name no system header are sent unchanged."""
    custom = {"Authorization": "Bearer 3f9c", "x-norce-event-type": "SkuChangedNotification"}
    headers = headers_for(style="standard", custom=custom)
    assert headers["Authorization"] == "Bearer 3f9c"
    assert headers["x-norce-event-type"] == "SkuChangedNotification"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("X-Token", "abc\r\nX-Evil: 1", "line break"),  # header injection through the value
        ("X-Token", "abc\n", "line break"),  # a bare LF as well
        ("X-Token", "a\0b", "NUL"),  # NUL bytes
        ("X-Token", "caf\u00e9", "outside ASCII"),  # httpx sends ASCII only: every try failed
        ("X-Token", "a\ud800", "outside ASCII"),  # invalid UTF-8 cannot even be stored
        ("", "abc", "invalid header name"),  # an empty name
        ("X-Evil\r\nX", "abc", "invalid header name"),  # injection through the name
        ("X Token", "abc", "invalid header name"),  # spaces are not allowed in names
        ("X-Token:", "abc", "invalid header name"),  # nor colons
        # framing a receiver would read the body by: it was sent beside the real framing (a
        # body after "Content-Length: 0", i.e. a smuggled request) or h11 refused it (a 500)
        ("Content-Length", "0", "set by deltahook for each request"),
        ("transfer-encoding", "chunked", "set by deltahook for each request"),
        ("Connection", "close", "set by deltahook for each request"),
        ("Upgrade", "h2c", "set by deltahook for each request"),
    ],
)
def test_check_header_refuses_what_could_break_the_request(
    name: str, value: str, message: str
) -> None:
    """Header names must be HTTP tokens and values ASCII without CR, LF or NUL."""
    with pytest.raises(ValueError, match=message):
        check_header(name, value)


def test_a_bad_custom_header_is_refused_even_when_overridden() -> None:
    """A broken custom header is a config mistake, reported even if it would be dropped."""
    with pytest.raises(ValueError, match="line break"):
        headers_for(style="norce", custom={"Norce-Event-Type": "x\r\ny"})


def test_a_message_id_from_data_cannot_inject_headers() -> None:
    """System header values are checked too."""
    with pytest.raises(ValueError, match="line break"):
        request_headers(
            style="norce",
            message_id="m1",
            event_type="Sku\r\nX-Evil: 1",
            timestamp=FIXED_TIME,
            body=BODY,
            secrets=[],
            custom={},
        )


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        ("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "must start with 'whsec_'"),  # no prefix
        ("whsec_not base64!", "base64"),  # not base64
        ("whsec_", "24 to 64 bytes"),  # empty
        ("whsec_c2hvcnQ=", "24 to 64 bytes, this one holds 5"),  # too short to be safe
    ],
)
def test_bad_secrets_are_refused_with_the_reason(secret: str, message: str) -> None:
    """A secret that is not whsec_ + base64 of 24 to 64 bytes raises ValueError saying why."""
    with pytest.raises(ValueError, match=message):
        sign(secret=secret, message_id=MESSAGE_ID, timestamp=1, body=BODY)


def test_unpadded_base64_secrets_are_accepted() -> None:
    """Secrets copied without their trailing '=' padding still decode to the same key."""
    padded = generate_secret(bytes(range(25)))
    assert padded.endswith("=")
    assert decode_secret(padded.rstrip("=")) == bytes(range(25))


@pytest.mark.parametrize(
    ("message_id", "timestamp", "message"),
    [
        ("msg.1", 1, "no '.'"),  # a dot would make "id.timestamp.body" ambiguous
        ("", 1, "non-empty"),  # the id is required
        ("msg_1", -1, "unix seconds"),  # unix seconds are never negative here
    ],
)
def test_signed_parts_are_checked(message_id: str, timestamp: int, message: str) -> None:
    """The id and timestamp must keep the signed content unambiguous."""
    with pytest.raises(ValueError, match=message):
        sign(secret=OLD_SECRET, message_id=message_id, timestamp=timestamp, body=BODY)


def test_signing_needs_a_secret() -> None:
    """Asking for a signature header with no secrets is a mistake, not an empty header."""
    with pytest.raises(ValueError, match="at least one"):
        signature_header([], message_id=MESSAGE_ID, timestamp=1, body=BODY)


@pytest.mark.parametrize("size", [23, 65])
def test_generate_secret_wants_24_to_64_random_bytes(size: int) -> None:
    """Secrets are made from 24 to 64 random bytes, as the specification asks."""
    with pytest.raises(ValueError, match="24 to 64"):
        generate_secret(b"\x01" * size)


@given(random_bytes=st.binary(min_size=24, max_size=64))
def test_generated_secrets_decode_to_their_bytes(random_bytes: bytes) -> None:
    """generate_secret and decode_secret are inverses, and the library reads the same key."""
    secret = generate_secret(random_bytes)
    assert decode_secret(secret) == random_bytes
    expected = Webhook(random_bytes).sign(MESSAGE_ID, FIXED_TIME, BODY.decode())
    unix = int(FIXED_TIME.timestamp())
    assert sign(secret=secret, message_id=MESSAGE_ID, timestamp=unix, body=BODY) == expected


def test_directscale_style_headers_with_the_detection_time() -> None:
    """Directscale sends its message and client id headers (the custom client id wins over the
    default), the Bearer header from the custom ones, and the detection time to the ms."""
    detected = FIXED_TIME - timedelta(minutes=5, microseconds=250_400)
    custom = {"Authorization": "Bearer t", "x-directscale-client-id": "acme"}
    headers = request_headers(
        style="directscale",
        message_id=MESSAGE_ID,
        event_type="SkuChangedNotification",
        timestamp=FIXED_TIME,
        body=BODY,
        secrets=(),
        custom=custom,
        detected_at=detected,
        client_id="1",
    )
    assert headers == {
        "Content-Type": "application/json; charset=utf-8",
        "X-Directscale-Message-Id": MESSAGE_ID,
        "X-Directscale-Client-Id": "acme",
        "Deltahook-Event-Detected-At": "2026-11-24T09:54:59.749+00:00",
        "Authorization": "Bearer t",
    }
