"""The request and response bodies of the API (pydantic), as the OpenAPI document shows them;
those of subscriptions and the delivery log are in ``delivery_models.py``."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field

from deltahook.clock import as_utc
from deltahook.notifications import Notification
from deltahook.results import JobStatus, Mode, RunResult


def _written_out(value: Any) -> Any:
    """Refuse what pydantic would read as seconds since 1970 (``0``, ``"1700000000"``): the
    API documents ISO 8601 times, and ``"until": 0`` meant as "no end" would find nothing."""
    if isinstance(value, int | float) or (isinstance(value, str) and _NUMBER.fullmatch(value)):
        raise ValueError("a time is ISO 8601 with its zone, e.g. 2026-11-30T10:00:00Z")
    return value


_NUMBER = re.compile(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*")
UtcTime = Annotated[AwareDatetime, BeforeValidator(_written_out), AfterValidator(as_utc)]
"""A time from a client: ISO 8601 with its zone, whose UTC reading a store can keep (else 422)."""


class Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class Counts(Model):
    received: int
    rejected: int
    duplicates: int
    unchanged: int
    inserted: int
    updated: int
    deleted: int
    notifications: int
    deliveries: int = Field(description="Deliveries queued (in a preview: that would be).")


class RejectOut(Model):
    line: int = Field(description="The line of the feed the record starts on.")
    field: str | None
    reason: str


SWEEP = (
    "Full feeds: whether the stored entities the feed left out were swept, or skipped because "
    "a rejected record's key is unknown (see unkeyed_lines)."
)
BASELINE = "A baseline load: snapshots and rule state stored, no notification decided or queued."
UNKEYED = "Lines of rejected records whose key is unknown (the first 10,000)."


class JobResult(Model):
    """What one feed did: its job id, counts and the records that were rejected."""

    job_id: str
    kind: str
    mode: Mode
    baseline: bool = Field(default=False, description=BASELINE)
    status: Literal[JobStatus.SUCCEEDED, JobStatus.VALIDATION_FAILED, JobStatus.SWEEP_SKIPPED]
    counts: Counts
    rejects: list[RejectOut] = Field(description="The first 10,000 rejected records.")
    notices: list[str]
    sweep: Literal["swept", "skipped"] | None = Field(default=None, description=SWEEP)
    unkeyed_lines: list[int] = Field(default_factory=list, description=UNKEYED)
    elapsed_s: float

    @classmethod
    def of(cls, result: RunResult, *, elapsed: float) -> JobResult:
        return cls(
            job_id=result.job_id,
            kind=result.kind,
            mode=result.mode,
            baseline=result.baseline,
            status=result.status,
            counts=Counts(**result.counts.as_dict()),
            rejects=[RejectOut(**r.to_json()) for r in result.rejects],
            notices=result.notices,
            sweep=result.sweep if result.sweep != "refused" else None,
            unkeyed_lines=result.unkeyed_lines,
            elapsed_s=round(elapsed, 3),
        )


class JobRecord(Model):
    """A stored ingest job (``deltahook ingest``, the API or the Python API made it)."""

    job_id: str
    kind: str
    mode: str
    baseline: bool = Field(default=False, description=BASELINE)
    source: str
    status: JobStatus = Field(description=", ".join(JobStatus))
    started_at: datetime
    finished_at: datetime | None
    counts: dict[str, int]
    rejects: list[RejectOut]


class EntityRef(Model):
    kind: str | None
    key: str | None


class NotificationOut(Model):
    id: str
    type: str
    family: Literal["notification", "event"]
    entity: EntityRef
    payload: dict[str, Any]
    explanation: dict[str, Any]
    created_at: datetime

    @classmethod
    def of(cls, n: Notification) -> NotificationOut:
        return cls.model_validate(n.to_json())


class PreviewResult(Model):
    """What ingesting the feed would do and notify, and why; nothing was written."""

    kind: str
    mode: Mode
    counts: Counts
    notifications: list[NotificationOut]
    near_misses: list[dict[str, Any]] = Field(
        description="With explain=true: settings that said no."
    )
    changes: list[dict[str, Any]]
    rejects: list[RejectOut]
    notices: list[str]
    sweep: Literal["swept", "skipped"] | None = Field(default=None, description=SWEEP)
    unkeyed_lines: list[int] = Field(default_factory=list, description=UNKEYED)

    @classmethod
    def of(cls, result: RunResult) -> PreviewResult:
        return cls(
            kind=result.kind,
            mode=result.mode,
            counts=Counts(**result.counts.as_dict()),
            notifications=[NotificationOut.of(n) for n in result.notifications],
            near_misses=result.near_misses,
            changes=[c.to_json() for c in result.changes],
            rejects=[RejectOut(**r.to_json()) for r in result.rejects],
            notices=result.notices,
            sweep=result.sweep if result.sweep != "refused" else None,
            unkeyed_lines=result.unkeyed_lines,
        )


class PairIn(Model):
    """One entity before (null or absent: it is new) and after a change."""

    before: dict[str, Any] | None = None
    after: dict[str, Any]


class EventTypeOut(Model):
    name: str
    family: Literal["notification", "event"]
    category: str
    description: str
    active: bool = Field(description="Whether an enabled subscription wants this type.")
    subscriptions: list[str] = Field(description="Subscriptions (on or off) that want it.")
    settings: list[str] = Field(description="The rule settings that fire it.")


class EntityKindOut(Model):
    name: str
    table: str
    key: list[str]
    tables: list[str]
    parent: str | None
    scope: list[str]
    json_schema: dict[str, Any] = Field(alias="schema")


class EmittedOut(NotificationOut):
    """A recorded event; a retry with the same Idempotency-Key returns the same one."""

    idempotency_key: str | None
    deliveries: int = Field(description="Deliveries queued by this request (0 on a replay).")
    replayed: bool = Field(description="True when the Idempotency-Key found it already stored.")


class DispatcherHealth(Model):
    running: int = Field(description="Dispatchers that sent a heartbeat in the last 30 s.")
    last_seen_s_ago: float | None = Field(description="Age of the newest heartbeat; null: none.")
    message: str


class Health(Model):
    status: Literal["ok", "unavailable"]
    database: str = Field(
        description="reachable; unreachable (it does not answer); or busy (every database "
        "connection of this server is in use: the database may be fine, try again later)"
    )
    dispatcher: DispatcherHealth | None = Field(
        default=None, description="Null when the database cannot be reached."
    )
