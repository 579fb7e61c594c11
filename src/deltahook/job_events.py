"""A job's ``JobCompletedEvent``, recorded when it ends: finished, failed or found abandoned.

Recorded only when the config asks for job events (``job_events``) and the event catalog has
the type; in the caller's transaction, with the deliveries it queues. Whoever reads a running
job (the next ingest, ``deltahook status``, ``GET /v1/jobs/{id}``, the console) finds it
abandoned the same way, here (``abandon_dead``; ``fresh`` for a read).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TypeVar

from sqlalchemy import Connection
from sqlalchemy import Engine as SqlEngine

from deltahook.catalog.events import EventCatalog
from deltahook.config import Settings
from deltahook.ownership import process_gone
from deltahook.results import JobStatus
from deltahook.rules.direct import job_completed
from deltahook.store import jobs, outbox
from deltahook.store.db import reading

_T = TypeVar("_T")


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


def fresh(
    db: SqlEngine,
    read: Callable[[Connection], _T],
    *,
    settings: Settings,
    events: EventCatalog | None,
    now: datetime,
) -> tuple[list[dict[str, object]], _T]:
    """``read`` of the store once every running job whose process is gone (or whose lease ran
    out) is marked abandoned, as ``abandon_dead`` marks them; with the jobs it marked. Read
    without the write lock (see ``store.db.reading``) unless there is such a job: a read of the
    jobs made while an ingest runs, the usual case, no longer waits for the batch being written.
    """
    with reading(db) as conn:
        if not jobs.dead(conn, now=now, gone=process_gone):
            return [], read(conn)
    with db.begin() as conn:
        abandoned = abandon_dead(conn, settings=settings, events=events, now=now)
        return abandoned, read(conn)
