"""A job's ``JobCompletedEvent``, recorded when it ends: finished, failed or found abandoned.

Recorded only when the config asks for job events (``job_events``) and the event catalog has
the type; in the caller's transaction, with the deliveries it queues. Whoever reads a running
job (the next ingest, ``deltahook status``, ``GET /v1/jobs/{id}``, the console) finds it
abandoned the same way, here.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from deltahook.catalog.events import EventCatalog
from deltahook.config import Settings
from deltahook.ownership import process_gone
from deltahook.results import JobStatus
from deltahook.rules.direct import job_completed
from deltahook.store import jobs, outbox


def record(
    conn: Connection,
    ended: Iterable[tuple[str, JobStatus]],
    *,
    settings: Settings,
    events: EventCatalog | None,
    now: datetime,
) -> None:
    """Record the JobCompletedEvent of each (job id, status) in ``ended``."""
    if not settings.job_events or events is None:
        return
    found = [
        job_completed(events, job_id=job_id, status=status, constants=settings.constants, now=now)
        for job_id, status in ended
    ]
    outbox.record(conn, [event for event in found if event is not None], now=now)


def abandon_dead(
    conn: Connection, *, settings: Settings, events: EventCatalog | None, now: datetime
) -> list[dict[str, object]]:
    """Mark the running jobs whose process died as abandoned and report each one's end (a
    baseline load's is not reported: it notifies no one)."""
    found = jobs.abandon_dead(conn, now=now, gone=process_gone)
    ended = [(str(job["job_id"]), JobStatus.ABANDONED) for job in found if not job["baseline"]]
    record(conn, ended, settings=settings, events=events, now=now)
    return found


def find(
    conn: Connection,
    job_id: str,
    *,
    settings: Settings,
    events: EventCatalog | None,
    now: datetime,
    rejects_limit: int = 1000,
) -> dict[str, Any] | None:
    """The job as ``jobs.find`` reads it; a running one is first found abandoned if its process
    is gone (or its lease ran out), as ``abandon_dead`` does (caller's transaction)."""
    found = jobs.find(conn, job_id, rejects_limit=rejects_limit)
    if found is None or found["status"] != JobStatus.RUNNING:
        return found
    if not abandon_dead(conn, settings=settings, events=events, now=now):
        return found
    return jobs.find(conn, job_id, rejects_limit=rejects_limit)
