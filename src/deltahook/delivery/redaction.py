"""Blanking credentials out of what a receiver answers, in every form it may echo them.

A receiver's answer is kept in the attempt log and shown by ``deltahook log``, the API and
``subscriptions test``; receivers echo what they were sent, in many spellings. Each header
value and each secret is blanked as sent, and so are the forms derived from it:

- a header value without its scheme (``Bearer t``: ``t``), and each word after it;
- a secret without its ``whsec_`` prefix, with or without base64 padding;
- a base64 text decoded (``Basic dTpw``: ``u:p``, and ``p``), its bytes in hex and in
  url-safe base64; any value base64-encoded;
- any of these JSON-escaped (``\\/``) or percent-encoded.

Forms shorter than ``MIN_LENGTH`` are kept: blanking every ``ok`` would blank the answer. An
excerpt cut short (it ends with ``CUT``) may end with the start of a form the cut split: that
start is blanked too, from ``MIN_LENGTH`` characters on.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import quote

MASK = "[redacted]"
MIN_LENGTH = 4
SECRET_PREFIX = "whsec_"
CUT = " …"
"""What ends the excerpt of an answer longer than the log keeps (``sender.excerpt_of``)."""


@dataclass(frozen=True, slots=True)
class Mask:
    """Every form of the values to blank: one pattern for whole ones, and the forms (longest
    first) for the start of one that a cut split."""

    whole: re.Pattern[str]
    forms: tuple[str, ...]


def mask(values: Iterable[str]) -> Mask | None:
    """The mask of every form of every value; ``None`` for none."""
    found: set[str] = set()
    for value in values:
        for core in _cores(value):
            found.update(_spellings(core))
    found = {form for form in found if len(form) >= MIN_LENGTH}
    if not found:
        return None
    ordered = tuple(sorted(found, key=lambda form: (-len(form), form)))
    return Mask(re.compile("|".join(re.escape(form) for form in ordered)), ordered)


def redact(text: str | None, mask: Mask | None) -> str | None:
    """``text`` with every form ``mask`` holds replaced by ``MASK``; in an excerpt cut short,
    the start of a form that the cut split, too."""
    if text is None or mask is None:
        return text
    text = mask.whole.sub(MASK, text)
    if not text.endswith(CUT):
        return text
    kept = text.removesuffix(CUT)
    for form in mask.forms:
        for length in range(min(len(form) - 1, len(kept)), MIN_LENGTH - 1, -1):
            if kept.endswith(form[:length]):
                return kept[:-length] + MASK + CUT
    return text


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
