"""Events posted directly (not derived by rules): ``deltahook emit`` and ``JobCompletedEvent``.

Both are validated against their type's schema and recorded in the outbox like notifications,
so subscriptions receive them the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import xxhash

from deltahook.catalog.events import EventCatalog
from deltahook.errors import EventError
from deltahook.feeds import values
from deltahook.notifications import Notification, stable_id, time_ordered_id
from deltahook.results import JobStatus
from deltahook.rules.payload import DEFAULTED

JOB_COMPLETED = "JobCompletedEvent"
# An idempotency key's length in characters: the API's Idempotency-Key header, emit's
# --idempotency-key and the Python API alike (the store's column holds 256).
IDEMPOTENCY_KEY_MAX = 200
# JobCompletedEvent.StatusId at completion (the platform's numbering).
JOB_STATUS = {
    JobStatus.SUCCEEDED: 2,
    JobStatus.FAILED: 3,
    JobStatus.ABANDONED: 3,
    JobStatus.VALIDATION_FAILED: 4,
    JobStatus.SWEEP_SKIPPED: 4,  # only ever with rejects
}


def direct_event(
    events: EventCatalog,
    name: str,
    payload: Mapping[str, Any],
    *,
    constants: Mapping[str, Any],
    now: datetime,
    idempotency_key: str | None = None,
) -> Notification:
    """An event of type ``name`` ready to record; raises ``EventError`` if it is invalid.

    ``ClientId`` and ``ApplicationId`` are filled from the project constants when absent.
    With an ``idempotency_key`` the id is derived from it, so the same event sent twice is
    recorded once.
    """
    event = events.require(name)
    if event.family != "event":
        raise EventError(f"{name} is a notification: rules derive it from changes")
    if not isinstance(payload, Mapping):
        raise EventError(f"a {name} payload must be a JSON object")
    full = dict(payload)
    props = event.schema.get("properties", {})
    for field in DEFAULTED:
        if field in props and field not in full and field in constants:
            full[field] = constants[field]
    _check_values(name, full, idempotency_key)
    events.validate(name, full)
    ident = stable_id("emit", name, idempotency_key) if idempotency_key else time_ordered_id()
    return Notification(
        id=ident,
        type=name,
        family="event",
        payload=full,
        created_at=now,
        idempotency_key=idempotency_key,
    )


def _check_values(name: str, payload: Mapping[str, Any], key: str | None) -> None:
    """Refuse what a feed's record could not hold either: a NUL, invalid UTF-8, NaN..."""
    reason = None if key is None else _key_problem(key)
    if reason is not None:
        raise EventError(f"the Idempotency-Key {reason}", event_type=name)
    found = values.problem(payload)
    if found is not None:
        problem = f"{found.field}: {found.reason}" if found.field else found.reason
        raise EventError(f"invalid {name} payload: {problem}", event_type=name, problems=[problem])


def _key_problem(key: str) -> str | None:
    if not key:
        return "is empty"
    if len(key) > IDEMPOTENCY_KEY_MAX:
        return f"is {len(key):,} characters long: at most {IDEMPOTENCY_KEY_MAX} are allowed"
    return values.text_problem(key)


def job_completed(
    events: EventCatalog,
    *,
    job_id: str,
    status: JobStatus,
    constants: Mapping[str, Any],
    now: datetime,
) -> Notification | None:
    """The ``JobCompletedEvent`` of an ingest job, or None when the catalog has no such type.

    The schema wants an integer ``JobId``; it is derived from the job's id (31 bits), and the
    job's own id is kept as the event's entity key.
    """
    if JOB_COMPLETED not in events:
        return None
    payload = {"JobId": job_number(job_id), "StatusId": JOB_STATUS[status]}
    event = direct_event(events, JOB_COMPLETED, payload, constants=constants, now=now)
    return Notification(
        id=stable_id("job-completed", job_id, near=job_id),
        type=event.type,
        family="event",
        payload=event.payload,
        created_at=now,
        entity_kind="ingest_job",
        entity_key=job_id,
        job_id=job_id,
    )


def job_number(job_id: str) -> int:
    """The integer a receiver sees as ``JobId`` for the job with id ``job_id``."""
    return xxhash.xxh32_intdigest(job_id) & 0x7FFFFFFF
