"""A decided message: a notification derived from changes, or an event posted directly."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

# Namespace of the stable ids of rule-derived notifications (re-running a feed after a crash
# derives the same ids, so nothing is delivered twice).
_NAMESPACE = uuid.UUID("6f0c8f5e-3f0e-4d3c-9a56-5d2b7d1c0a11")


def stable_id(*parts: object) -> str:
    """A UUID determined by ``parts``: ``uuid.uuid5`` of them joined, as text.

    Spelled out with ``hashlib`` because a first load derives one per notification and per
    delivery, and the ``UUID`` object ``uuid5`` builds on the way costs twice the hashing.
    """
    name = "\x1f".join(map(str, parts)).encode()
    return _uuid_text(hashlib.sha1(_NAMESPACE.bytes + name).digest())


def stable_ids(*prefix: object) -> Callable[[str], str]:
    """``stable_id(*prefix, last)`` as a function of ``last``: the prefix is hashed once, not
    once per id (a first load derives hundreds of thousands with the same job and type)."""
    if not prefix:
        raise ValueError("stable_ids needs at least one part before the last")
    start = hashlib.sha1(_NAMESPACE.bytes + ("\x1f".join(map(str, prefix)) + "\x1f").encode())

    def one(last: str) -> str:
        digest = start.copy()
        digest.update(last.encode())
        return _uuid_text(digest.digest())

    return one


def _uuid_text(sha1: bytes) -> str:
    """The first 16 bytes of ``sha1`` as a version-5 UUID's text (``uuid.UUID(..., version=5)``),
    spelled out in hex: the version nibble is 5, the variant's high bits 10."""
    text = sha1.hex()
    variant = "89ab"[int(text[16], 16) & 0x3]
    return f"{text[:8]}-{text[8:12]}-5{text[13:16]}-{variant}{text[17:20]}-{text[20:32]}"


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
