"""A decided message: a notification derived from changes, or an event posted directly."""

from __future__ import annotations

import hashlib
import os
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

# Namespace of the stable ids of rule-derived notifications (re-running a feed after a crash
# derives the same ids, so nothing is delivered twice).
_NAMESPACE = uuid.UUID("6f0c8f5e-3f0e-4d3c-9a56-5d2b7d1c0a11")


def time_ordered_id() -> str:
    """A new random UUID whose first 48 bits are the current Unix time in milliseconds
    (version 7, RFC 9562): jobs made later sort later, and ids placed ``near`` one (see
    ``stable_ids``) sort with it."""
    ms = f"{time.time_ns() // 1_000_000 & _MS_MASK:012x}"
    return _uuid_text(os.urandom(16), f"{ms[:8]}-{ms[8:]}", version="7")


_MS_MASK = (1 << 48) - 1


def stable_id(*parts: object, near: str | None = None) -> str:
    """A UUID determined by ``parts``: ``uuid.uuid5`` of them joined, as text; placed ``near``
    a time-ordered id when given one (see ``stable_ids``).

    Spelled out with ``hashlib`` because a first load derives one per notification and per
    delivery, and the ``UUID`` object ``uuid5`` builds on the way costs twice the hashing.
    """
    name = "\x1f".join(map(str, parts)).encode()
    return _uuid_text(hashlib.sha1(_NAMESPACE.bytes + name).digest(), _time_prefix(near))


def stable_ids(*prefix: object, near: str | None = None) -> Callable[[str], str]:
    """``stable_id(*prefix, last, near=near)`` as a function of ``last``: the prefix is hashed
    once, not once per id (a first load derives hundreds of thousands with the same job and
    type).

    ``near`` is the id the new ones belong with (a notification's job, a delivery's
    notification). When it is time-ordered (version 7, or 8 as these are), the ids take its
    first 48 bits, its time, and are version 8 (RFC 9562's custom layout): a job's
    notifications and deliveries then sit together at the end of their tables' primary-key
    indexes instead of scattered through them, so a nightly ingest's few hundred rows dirty a
    few pages, not one page each. Jobs made before ids were time-ordered keep giving the
    version-5 ids they gave then, so a job resumed across the upgrade finds what it stored.
    """
    if not prefix:
        raise ValueError("stable_ids needs at least one part before the last")
    start = hashlib.sha1(_NAMESPACE.bytes + ("\x1f".join(map(str, prefix)) + "\x1f").encode())
    time_prefix = _time_prefix(near)

    def one(last: str) -> str:
        digest = start.copy()
        digest.update(last.encode())
        return _uuid_text(digest.digest(), time_prefix)

    return one


def _time_prefix(near: str | None) -> str | None:
    """The first 48 bits of ``near`` as ``xxxxxxxx-xxxx`` when it is a time-ordered UUID's text
    (an id a caller gave a job is used only if it is one, so every id made stays a UUID)."""
    if near is None or not _TIME_ORDERED.fullmatch(near):
        return None
    return near[:13]


_TIME_ORDERED = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[78][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
)


def _uuid_text(sha1: bytes, time_prefix: str | None = None, *, version: str = "8") -> str:
    """The first 16 bytes of ``sha1`` as a version-5 UUID's text (``uuid.UUID(..., version=5)``),
    spelled out in hex: the version nibble is 5, the variant's high bits 10. With
    ``time_prefix`` the first 48 bits are those instead and the version is ``version``."""
    text = sha1.hex()
    variant = "89ab"[int(text[16], 16) & 0x3]
    tail = f"{text[13:16]}-{variant}{text[17:20]}-{text[20:32]}"
    if time_prefix is None:
        return f"{text[:8]}-{text[8:12]}-5{tail}"
    return f"{time_prefix}-{version}{tail}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Notification:
    """One message to deliver: its type, the entity it is about, payload and explanation."""

    id: str
    type: str
    family: Literal["notification", "event"]
    payload: Mapping[str, Any]
    created_at: datetime
    entity_kind: str | None = None
    entity_key: str | None = None
    job_id: str | None = None
    idempotency_key: str | None = None
    explanation: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "family": self.family,
            "entity": {"kind": self.entity_kind, "key": self.entity_key},
            "payload": dict(self.payload),
            "explanation": dict(self.explanation),
            "created_at": self.created_at.isoformat(),
        }
