"""Signatures and headers of an outgoing webhook request.

Signing follows the Standard Webhooks specification so receivers can verify with an
off-the-shelf library: HMAC-SHA256 over ``{webhook-id}.{webhook-timestamp}.{body}`` with a
``whsec_<base64>`` secret, sent as ``webhook-signature: v1,<base64>``. During secret rotation
a subscription has several active secrets and the header carries one signature per secret,
space-separated, so a receiver holding either secret accepts the request.

Three header styles: ``norce`` (``Norce-Event-Message-Id``, ``Norce-Event-Type``,
``Norce-Event-Timestamp``) keeps receivers written for Norce Commerce Event working unchanged;
``standard`` uses the ``webhook-*`` names; ``directscale`` (``X-Directscale-Message-Id``,
``X-Directscale-Client-Id``, with an ``Authorization: Bearer`` header from the subscription and
a body envelope, ``delivery/envelope.py``) suits receivers built for DirectScale. Every style
adds ``Deltahook-Event-Detected-At``: when the change was detected (the notification's stored
time), which stays the same on retries; the styles' own timestamps are the attempt's.
Everything here is pure: the timestamps and the random bytes of a new secret are passed in.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from itertools import chain
from typing import Literal, get_args

SECRET_PREFIX = "whsec_"
# `${NAME}` in a header value or secret: read from the environment of the process that sends.
ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
SECRET_BYTES_MIN = 24
SECRET_BYTES_MAX = 64
"""The secret sizes the specification allows (random bytes, before base64)."""

CONTENT_TYPE = "application/json; charset=utf-8"

HeaderStyle = Literal["norce", "standard", "directscale"]
HEADER_STYLES: tuple[str, ...] = get_args(HeaderStyle)
DETECTED_AT = "Deltahook-Event-Detected-At"
DIRECTSCALE_CLIENT_ID = "X-Directscale-Client-Id"

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
"""An HTTP field name (RFC 9110 token): no spaces, colons or control characters."""
KEPT = 1024
"""How many header names the cache below holds: past that, no more are kept (each new one is
matched every time)."""
_GOOD_NAMES: set[str] = set()
"""Header names ``check_header`` found valid (a request checks the same few each time)."""
_FRAMING = frozenset(
    {"content-length", "transfer-encoding", "connection", "keep-alive", "proxy-connection"}
    | {"te", "trailer", "upgrade"}
)
"""Headers that frame the message or manage the connection (RFC 9110 7.6.1): the client sets
them for each request; a custom one would contradict the body sent (a request smuggled in)."""


def _caseless(name: str) -> str:
    """A pattern matching ``name`` in any case (JSON Schema patterns take no flags)."""
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c for c in name)  # a-z and -


# What check_header and decode_secret accept, as JSON Schema patterns (the OpenAPI document's).
HEADER_NAME_PATTERN = f"^{_TOKEN.pattern}$"
FRAMING_NAME_PATTERN = "^(?:" + "|".join(_caseless(n) for n in sorted(_FRAMING)) + ")$"
HEADER_VALUE_PATTERN = "^[\\t -~]*$"
"""Visible ASCII, spaces and tabs: a subset of what ``check_header`` takes (which lets other
control characters through, for the sender to refuse)."""
_B64 = "[A-Za-z0-9+/]"
SECRET_PATTERN = (
    f"^(?:{SECRET_PREFIX}(?:(?:{_B64}{{4}}){{8,21}}|(?:{_B64}{{4}}){{8,21}}{_B64}{{2}}(?:==)?"
    f"|(?:{_B64}{{4}}){{8,20}}{_B64}{{3}}=?)|\\$\\{{[A-Za-z_][A-Za-z0-9_]*\\}})$"
)
"""A ``whsec_`` secret of 24 to 64 bytes (base64, padded or not), or a ``${VAR}``."""


def decode_secret(secret: str) -> bytes:
    """The key bytes of a ``whsec_<base64>`` secret; ``ValueError`` saying what is wrong."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"a signing secret must start with {SECRET_PREFIX!r}")
    encoded = secret[len(SECRET_PREFIX) :]
    try:
        # Padding is optional in the wild; validate=True still refuses stray characters.
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except binascii.Error as error:
        raise ValueError(f"a signing secret must be {SECRET_PREFIX}<base64>: {error}") from None
    if not SECRET_BYTES_MIN <= len(key) <= SECRET_BYTES_MAX:
        raise ValueError(
            f"a signing secret must hold {SECRET_BYTES_MIN} to {SECRET_BYTES_MAX} bytes, "
            f"this one holds {len(key)}"
        )
    return key


def generate_secret(random_bytes: bytes) -> str:
    """A new ``whsec_`` secret from ``random_bytes`` (from ``secrets.token_bytes(32)``, say)."""
    if not SECRET_BYTES_MIN <= len(random_bytes) <= SECRET_BYTES_MAX:
        raise ValueError(
            f"a signing secret needs {SECRET_BYTES_MIN} to {SECRET_BYTES_MAX} random bytes, "
            f"got {len(random_bytes)}"
        )
    return SECRET_PREFIX + base64.b64encode(random_bytes).decode("ascii")


def sign(*, secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``v1,<base64>`` signature of one request for one secret."""
    _check_signed_parts(message_id, timestamp)
    content = b"%s.%d.%s" % (message_id.encode("utf-8"), timestamp, body)
    digest = hmac.new(decode_secret(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def signature_header(
    secrets: Sequence[str], *, message_id: str, timestamp: int, body: bytes
) -> str:
    """The ``webhook-signature`` value: one signature per active secret, space-separated."""
    if not secrets:
        raise ValueError("at least one signing secret is needed to sign")
    signatures = [
        sign(secret=secret, message_id=message_id, timestamp=timestamp, body=body)
        for secret in secrets
    ]
    return " ".join(dict.fromkeys(signatures))  # the same secret twice signs once


def _check_signed_parts(message_id: str, timestamp: int) -> None:
    """The signed content is dot-separated, so a dot in the id would make it ambiguous."""
    if not message_id or "." in message_id:
        raise ValueError(f"a message id must be non-empty and contain no '.': {message_id!r}")
    if timestamp < 0:
        raise ValueError(f"a webhook timestamp is unix seconds, not {timestamp}")


# A custom header's value at most, and the most custom headers a subscription has: receivers
# refuse a request whose header block passes 8-16 KB (nginx, Node) with 431 or 400.
LONGEST_HEADER = 8_192
MOST_HEADERS = 50


def check_header(name: str, value: str) -> None:
    """Refuse a header that could not be sent as given or could smuggle in another one."""
    if name not in _GOOD_NAMES:
        if not _TOKEN.fullmatch(name):
            raise ValueError(f"invalid header name {name!r}: use letters, digits and '-'")
        if name.lower() in _FRAMING:
            raise ValueError(
                f"header {name!r} is set by deltahook for each request (how its body is framed "
                "and its connection kept): leave it out"
            )
        if len(_GOOD_NAMES) < KEPT:
            _GOOD_NAMES.add(name)
    if len(value) > LONGEST_HEADER:
        raise ValueError(f"header {name!r} is longer than {LONGEST_HEADER:,} characters")
    if "\r" in value or "\n" in value or "\0" in value:
        raise ValueError(f"header {name!r} has a line break or NUL in its value")
    if not value.isascii():  # httpx encodes header values as ASCII: no request could be sent
        raise ValueError(f"header {name!r} has a character outside ASCII in its value")


def request_headers(
    *,
    style: HeaderStyle,
    message_id: str,
    event_type: str,
    timestamp: datetime,
    body: bytes,
    secrets: Sequence[str],
    custom: Mapping[str, str],
    detected_at: datetime | None = None,
    client_id: str = "",
) -> dict[str, str]:
    """Every header of one request: content type, event headers, signature, custom headers.

    ``timestamp`` is the time of this attempt (it changes on retries; ``message_id`` and
    ``detected_at``, when the change was detected, do not). Custom headers whose name matches
    a system header, in any case, are dropped: system headers take precedence, as on Norce
    Commerce Event. ``client_id`` is the directscale style's client id, unless the custom
    headers name one.
    """
    system = {
        "Content-Type": CONTENT_TYPE,
        **_event_headers(style, message_id, event_type, timestamp),
    }
    if style == "directscale":
        own = [v for k, v in custom.items() if k.lower() == DIRECTSCALE_CLIENT_ID.lower()]
        system[DIRECTSCALE_CLIENT_ID] = own[0] if own else client_id
    if detected_at is not None:
        system[DETECTED_AT] = format_detected(detected_at)
    if secrets:
        unix = _unix_seconds(timestamp)
        system["webhook-id"] = message_id
        system["webhook-timestamp"] = str(unix)
        system["webhook-signature"] = signature_header(
            secrets, message_id=message_id, timestamp=unix, body=body
        )
    # Check every custom header, even one about to be dropped: a bad one is a config mistake.
    for name, value in chain(custom.items(), system.items()):
        check_header(name, value)
    if not custom:
        return system
    taken = {name.lower() for name in system}
    return {**system, **{k: v for k, v in custom.items() if k.lower() not in taken}}


def _event_headers(
    style: HeaderStyle, message_id: str, event_type: str, timestamp: datetime
) -> dict[str, str]:
    if style == "norce":
        return {
            "Norce-Event-Message-Id": message_id,
            "Norce-Event-Type": event_type,
            "Norce-Event-Timestamp": format_timestamp(timestamp),
        }
    if style == "directscale":
        return {"X-Directscale-Message-Id": message_id}
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(_unix_seconds(timestamp)),
        "webhook-event-type": event_type,
    }


def format_timestamp(timestamp: datetime) -> str:
    """ISO 8601 in UTC to the second, e.g. ``2026-11-24T10:00:00+00:00``.

    Whole seconds, like ``webhook-timestamp``, so the two headers of one request agree.
    """
    return _require_aware(timestamp).astimezone(UTC).isoformat(timespec="seconds")


def format_detected(detected_at: datetime) -> str:
    """A detection time: ISO 8601 in UTC to the millisecond, e.g.
    ``2026-11-24T10:00:00.250+00:00`` (finer than the attempt's, to order changes)."""
    return _require_aware(detected_at).astimezone(UTC).isoformat(timespec="milliseconds")


def _unix_seconds(timestamp: datetime) -> int:
    return math.floor(_require_aware(timestamp).timestamp())


def _require_aware(timestamp: datetime) -> datetime:
    if timestamp.tzinfo is None or timestamp.utcoffset() is None:
        raise ValueError("the timestamp must be timezone-aware")
    return timestamp
