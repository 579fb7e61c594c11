"""A test send: one ``TestEvent`` to a subscription now, on or off, stored nowhere."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import orjson

from deltahook.delivery.credentials import resolve
from deltahook.delivery.requests import request_for
from deltahook.delivery.sender import Sender
from deltahook.delivery.subscriptions import Subscription

TEST_EVENT = "TestEvent"


async def send_test(
    sub: Subscription,
    *,
    constants: Mapping[str, Any],
    now: datetime,
    message_id: str | None = None,
    sender: Sender | None = None,
    allow_private: bool = False,
    env: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Send the test event as a real delivery would be sent; report what came back.

    Its detection time is ``now``; ``env`` fills the subscription's ``${VAR}`` (default: the
    process environment)."""
    creds = resolve(sub, env)
    payload = {k: constants[k] for k in ("ClientId", "ApplicationId") if k in constants}
    payload["Message"] = f"Test from deltahook: subscription '{sub.name}'"
    message_id = message_id or str(uuid.uuid4())
    body, headers = request_for(
        sub,
        creds,
        message_id=message_id,
        event_type=TEST_EVENT,
        timestamp=now,
        payload=orjson.dumps(payload),
        detected_at=now,
        client_id=str(constants.get("ClientId", "")),
        categories={TEST_EVENT: "System"},
    )
    async with sender or Sender(allow_private=allow_private) as client:
        outcome = await client.send(url=sub.url, body=body, headers=headers, timeout=sub.timeout)
    return {
        "subscription": sub.name,
        "message_id": message_id,
        "succeeded": outcome.result.succeeded,
        "status_code": outcome.result.status_code,
        "error": creds.redact(outcome.result.error),
        "duration_ms": round(outcome.duration_ms, 1),
        "response_excerpt": creds.redact(outcome.excerpt),
    }
