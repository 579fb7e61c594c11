"""A delivery's request body and headers, built from its subscription: the one place both the
dispatcher and the test send build them (``envelope.body_for`` wraps the body for a header
style, ``signing.request_headers`` does the signing)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from deltahook.delivery.credentials import Credentials
from deltahook.delivery.envelope import body_for
from deltahook.delivery.signing import request_headers
from deltahook.delivery.subscriptions import Subscription


def headers_for(
    sub: Subscription,
    creds: Credentials,
    *,
    message_id: str,
    event_type: str,
    timestamp: datetime,
    body: bytes,
    detected_at: datetime | None = None,
    client_id: str = "",
) -> dict[str, str]:
    """Every header of one request to ``sub``: its header style, signature and custom headers.

    ``body`` is the one sent (``body_for``); ``detected_at`` is when the change was detected
    and ``client_id`` the directscale client id unless the subscription's headers name one.
    Raises ``ValueError`` when the request cannot be built (e.g. an id that cannot be signed).
    """
    return request_headers(
        style=sub.header_style,
        message_id=message_id,
        event_type=event_type,
        timestamp=timestamp,
        body=body,
        secrets=creds.secrets,
        custom=creds.headers,
        detected_at=detected_at,
        client_id=client_id,
    )


def request_for(
    sub: Subscription,
    creds: Credentials,
    *,
    message_id: str,
    event_type: str,
    timestamp: datetime,
    payload: bytes,
    detected_at: datetime,
    client_id: str,
    categories: Mapping[str, str],
) -> tuple[bytes, dict[str, str]]:
    """The body and headers of one request to ``sub`` for a stored ``payload``: the body in
    the subscription's header style (``envelope.body_for``), the headers over that body."""
    body = body_for(
        sub.header_style,
        payload,
        event_type=event_type,
        detected_at=detected_at,
        categories=categories,
    )
    headers = headers_for(
        sub,
        creds,
        message_id=message_id,
        event_type=event_type,
        timestamp=timestamp,
        body=body,
        detected_at=detected_at,
        client_id=client_id,
    )
    return body, headers
