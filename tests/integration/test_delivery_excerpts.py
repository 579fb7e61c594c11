"""What a receiver answered, as the attempt log keeps and shows it, on each database."""

from __future__ import annotations

import pytest

from deltahook.delivery.receiver import Receiver
from deltahook.delivery.redaction import CUT
from deltahook.delivery.sender import EXCERPT_BYTES
from tests.api_support import client
from tests.delivery_support import World

EURO = "€".encode()  # three bytes


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"x" * EXCERPT_BYTES, "x" * EXCERPT_BYTES),  # exactly at the limit: not marked cut
        (b"x" * (EXCERPT_BYTES - 1) + EURO, "x" * (EXCERPT_BYTES - 1) + CUT),  # € split: dropped
        (b'{"error": "bad\x00byte"}', '{"error": "bad\ufffdbyte"}'),  # PostgreSQL refuses NUL
        (b"\x00" * (EXCERPT_BYTES + 1), "\ufffd" * EXCERPT_BYTES + CUT),
    ],
)
def test_the_logged_excerpt_is_the_answer_as_text_cut_only_when_longer(
    world: World, receiver: Receiver, database_url: str, body: bytes, expected: str
) -> None:
    """A receiver's answer is stored and shown by the API as text any database keeps: cut and
    marked only past the limit, never mid-character, a NUL as U+FFFD."""
    world.subscribe("shop", receiver.url)
    world.notify()
    receiver.fail(1, status=500, body=body)
    assert world.run().retrying == 1
    [attempt] = world.attempts()
    assert (attempt.status_code, attempt.response_excerpt) == (500, expected)
    with client(database_url) as api:
        [entry] = api.get("/v1/deliveries", params={"attempts": "true"}).json()["items"]
    assert entry["attempt_log"][0]["response_excerpt"] == expected
