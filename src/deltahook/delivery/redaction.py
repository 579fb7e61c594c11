"""Blanking credentials out of what a receiver answers, in every form it may echo them.

A receiver's answer is kept in the attempt log and shown by ``deltahook log``, the API and
``subscriptions test``; receivers echo what they were sent, in many spellings. Each header
value and each secret is blanked as sent, and so are the forms derived from it:

- a header value without its scheme (``Bearer t``: ``t``), and each word after it;
- a secret without its ``whsec_`` prefix, with or without base64 padding;
- a base64 text decoded (``Basic dTpw``: ``u:p``, and ``p``), its bytes in hex and in
  url-safe base64; any value base64-encoded;
- any of these JSON-escaped (``\\/``) or percent-encoded.

Forms shorter than ``MIN_LENGTH`` are kept: blanking every ``ok`` would blank the answer.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from urllib.parse import quote

MASK = "[redacted]"
MIN_LENGTH = 4
SECRET_PREFIX = "whsec_"


def pattern(values: Iterable[str]) -> re.Pattern[str] | None:
    """One pattern matching every form of every value, longest first; ``None`` for none."""
    found: set[str] = set()
    for value in values:
        for core in _cores(value):
            found.update(_spellings(core))
    found = {form for form in found if len(form) >= MIN_LENGTH}
    if not found:
        return None
    ordered = sorted(found, key=lambda form: (-len(form), form))
    return re.compile("|".join(re.escape(form) for form in ordered))


def redact(text: str | None, mask: re.Pattern[str] | None) -> str | None:
    """``text`` with every match of ``mask`` replaced by ``MASK``."""
    if text is None or mask is None:
        return text
    return mask.sub(MASK, text)


def _cores(value: str) -> set[str]:
    """The value, its words, what follows a scheme, and what a base64 part decodes to."""
    cores = {value, value.removeprefix(SECRET_PREFIX)}
    words = value.split()
    if len(words) > 1:  # the first word is a scheme (Bearer, Basic), not a secret
        cores.update(words[1:])
        cores.add(value.split(None, 1)[1])
    for part in list(cores):
        cores.update(_decoded(part))
    return cores


def _decoded(part: str) -> set[str]:
    """What a base64 ``part`` holds: its text (and a ``user:password``'s password), its
    bytes in hex and url-safe base64; nothing when it is not base64."""
    stripped = part.rstrip("=")
    try:
        data = base64.b64decode(stripped + "=" * (-len(stripped) % 4), validate=True)
    except (binascii.Error, ValueError):
        return set()
    forms = {data.hex(), data.hex().upper(), base64.urlsafe_b64encode(data).decode()}
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return forms
    if text.isprintable():
        forms.add(text)
        if ":" in text:
            forms.add(text.split(":", 1)[1])
    return forms


def _spellings(core: str) -> set[str]:
    """``core`` as sent, unpadded, base64-encoded, JSON-escaped and percent-encoded."""
    encoded = base64.b64encode(core.encode("utf-8")).decode()
    forms = {core, core.rstrip("="), encoded, encoded.rstrip("=")}
    return forms | {f.replace("/", "\\/") for f in forms} | {quote(f, safe="") for f in forms}
