"""The body a request carries: the stored payload as is, or wrapped for a header style.

The ``directscale`` style sends ``EventType``, ``EventCategory`` (the event type's catalog
category) and ``EventDateUtc`` (when the change was detected) beside the payload's own fields,
as receivers built for DirectScale expect. The envelope is added at send time: the stored
payload stays the one its schema validated. Envelope fields take precedence over payload
fields of the same name, as system headers do over custom ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

import orjson

from deltahook.delivery.signing import HeaderStyle, format_detected

FALLBACK_CATEGORY = "System"
"""The category of an event type the categories given do not know."""


def body_for(
    style: HeaderStyle,
    payload: bytes,
    *,
    event_type: str,
    detected_at: datetime,
    categories: Mapping[str, str],
) -> bytes:
    """The body of one request in ``style`` for a stored ``payload`` (JSON bytes)."""
    if style != "directscale":
        return payload
    envelope = {
        "EventType": event_type,
        "EventCategory": categories.get(event_type, FALLBACK_CATEGORY),
        "EventDateUtc": format_detected(detected_at),
    }
    fields = orjson.loads(payload)
    if not isinstance(fields, dict):
        raise ValueError("a directscale body needs a JSON object payload")
    return orjson.dumps(envelope | {k: v for k, v in fields.items() if k not in envelope})


def event_categories(directory: Path) -> dict[str, str]:
    """Each event type's category, from the event schemas in ``directory``."""
    from deltahook.catalog.events import load_event_catalog  # only a sender needs it

    return {event_type.name: event_type.category for event_type in load_event_catalog(directory)}
