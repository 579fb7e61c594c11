"""A decided message: a notification derived from changes, or an event posted directly."""

from __future__ import annotations

import hashlib
import os
import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

# Namespace of the stable ids (events posted with an idempotency key, a job's completion).
_NAMESPACE = uuid.UUID("6f0c8f5e-3f0e-4d3c-9a56-5d2b7d1c0a11")


def time_ordered_id() -> str:
    """A new random UUID whose first 48 bits are the current Unix time in milliseconds
    (version 7, RFC 9562): jobs made later sort later, and so do their notifications
    (``JobIds``)."""
    ms = f"{time.time_ns() // 1_000_000 & _MS_MASK:012x}"
    return _uuid_text(os.urandom(16), f"{ms[:8]}-{ms[8:]}", version="7")


_MS_MASK = (1 << 48) - 1


def stable_id(*parts: object, near: str | None = None) -> str:
    """A UUID determined by ``parts``: ``uuid.uuid5`` of them joined, as text.

    ``near`` is the id the new one belongs with (a job, for its completion event; a
    notification, for a delivery ``delivery_id`` cannot place). When it is time-ordered
    (version 7, or 8), the id takes its first 48 bits, its time, and is version 8 (RFC 9562's
    custom layout), so that it sits with the job's rows at the end of their tables' indexes.
    """
    name = "\x1f".join(map(str, parts)).encode()
    return _uuid_text(hashlib.sha1(_NAMESPACE.bytes + name).digest(), _time_prefix(near))


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


class JobIds:
    """The ids of one job's notifications, in the order they are given: the job's time (the
    first 48 bits of a time-ordered job id; of its hash otherwise), version 8, 34 bits of a
    SHA-1 of the whole job id, then a count, and 8 bits left zero for ``delivery_id``.

    A job's notifications are then appended to the end of the notifications' primary-key index,
    and their deliveries (``delivery_id``) to the deliveries' indexes by id and by notification,
    instead of being spread through the job's part of each. With ids random within the job, a
    first load rewrote each of those index pages at every batch: about 1 GB of the 3.2 GB a
    first load of 100k SKUs wrote, and 6 of 9.6 GB with two subscriptions. That a group is not
    notified twice in a job is kept by ``rules.decided``, no longer by the id. Two jobs share
    ids only if they started in the same millisecond and 34 bits of their ids' hashes agree.
    """

    __slots__ = ("_prefix", "next")

    def __init__(self, job_id: str) -> None:
        text = _uuid_text(hashlib.sha1(_NAMESPACE.bytes + job_id.encode()).digest())
        head = job_id[:13] if _TIME_ORDERED.fullmatch(job_id) else text[:13]
        self._prefix = f"{head}-8{text[15:18]}-{text[19:23]}-{text[24:26]}"
        self.next = 0  # the count of the next id

    def take(self) -> str:
        """The next id."""
        count = self.next
        if count > _MAX_COUNT:
            raise ValueError("a job cannot have more than 2**32 notifications")
        self.next = count + 1
        return f"{self._prefix}{count:08x}00"


SLOTS = 256  # deliveries a notification's id leaves room for (``delivery_id``)
_MAX_COUNT = (1 << 32) - 1
_DELIVERY_MASK = 0xD11  # makes a delivery's id differ from its notification's


def delivery_id(notification_id: str, slot: int, subscription: str) -> str:
    """The id of a notification's delivery to its ``slot``-th subscription (``subscription``).

    For an id ``JobIds`` gave (its last 8 bits zero): that id with its 12 bits after the
    version flipped by a constant and ``slot`` as its last 8 bits, so a job's deliveries sort
    as its notifications do, and two share an id only if their notification and slot do. For
    other ids, and past ``SLOTS`` subscriptions, a stable id of the three (``stable_id``)
    placed near the notification.
    """
    if slot >= SLOTS or len(notification_id) != 36 or not notification_id.endswith("00"):
        return stable_id("delivery", notification_id, subscription, near=notification_id)
    bits = int(notification_id[15:18], 16) ^ _DELIVERY_MASK
    return f"{notification_id[:15]}{bits:03x}{notification_id[18:34]}{slot:02x}"


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
