"""A delivery's request headers, built from its subscription: the one place both the dispatcher
and the test send build them (``signing.request_headers`` does the signing)."""

from __future__ import annotations

from datetime import datetime

from deltahook.delivery.signing import request_headers
from deltahook.delivery.subscriptions import Credentials, Subscription


def headers_for(
    sub: Subscription,
    creds: Credentials,
    *,
    message_id: str,
    event_type: str,
    timestamp: datetime,
    body: bytes,
) -> dict[str, str]:
    """Every header of one request to ``sub``: its header style, signature and custom headers.

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
    )
