"""The request body per header style: the stored payload as is, or the directscale envelope."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from deltahook.delivery.envelope import body_for
from deltahook.delivery.signing import HeaderStyle

DETECTED = datetime(2026, 11, 24, 10, 0, 0, 123456, tzinfo=UTC)
PAYLOAD = orjson.dumps({"ClientId": 1, "EventType": "from the payload", "PartNo": "P-1"})


@pytest.mark.parametrize("style", ["norce", "standard"])
def test_other_styles_send_the_stored_bytes(style: HeaderStyle) -> None:
    """Norce and standard send the stored payload byte for byte."""
    sent = body_for(style, PAYLOAD, event_type="T", detected_at=DETECTED, categories={})
    assert sent is PAYLOAD


def test_the_envelope_wins_over_payload_fields_of_the_same_name() -> None:
    """EventType, EventCategory and EventDateUtc come first and are the envelope's."""
    sent = body_for(
        "directscale",
        PAYLOAD,
        event_type="SkuChangedNotification",
        detected_at=DETECTED,
        categories={"SkuChangedNotification": "Product"},
    )
    assert list(orjson.loads(sent).items()) == [
        ("EventType", "SkuChangedNotification"),
        ("EventCategory", "Product"),
        ("EventDateUtc", "2026-11-24T10:00:00.123+00:00"),
        ("ClientId", 1),
        ("PartNo", "P-1"),
    ]


def test_a_payload_that_is_not_an_object_cannot_be_enveloped() -> None:
    """A non-object payload is a ValueError (the dispatcher records it as the attempt's error)."""
    with pytest.raises(ValueError, match="JSON object"):
        body_for("directscale", b"[1]", event_type="T", detected_at=DETECTED, categories={})
