"""A decided message: a notification derived from changes, or an event posted directly."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

# Namespace of the stable ids of rule-derived notifications (re-running a feed after a crash
# derives the same ids, so nothing is delivered twice).
_NAMESPACE = uuid.UUID("6f0c8f5e-3f0e-4d3c-9a56-5d2b7d1c0a11")


def stable_id(*parts: object) -> str:
    """A UUID determined by ``parts``."""
    return str(uuid.uuid5(_NAMESPACE, "\x1f".join(str(p) for p in parts)))


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
