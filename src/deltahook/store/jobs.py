"""Ingest jobs in the store: started, renewed as batches commit, finished, read back.

A running job holds a lease: its owner (``host:pid``) renews it, with the counts of what it
applied, in each batch's transaction. A running job whose process is gone, or whose lease ran
out, is marked abandoned by ``abandon_dead`` (the next ingest and ``deltahook status`` call
it); its counts are what it applied.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from copy import copy
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, delete, insert, select, update

from deltahook.clock import Clock
from deltahook.results import Counts, JobStatus
from deltahook.store.tables import ingest_jobs, job_rejects, notifications

# Whether a job's owner process is gone: True, False, or None when it cannot be told.
Gone = Callable[[str | None], bool | None]

# A job's JobCompletedEvent is stamped a moment after its ``finished_at``; an hour spares a
# clock step as well.
_END_SLACK = timedelta(hours=1)
_DELETE_CHUNK = 500

COUNTS = ("received", "rejected", "duplicates", "unchanged", "inserted", "updated", "deleted")


def start(
    conn: Connection,
    *,
    job_id: str,
    kind: str,
    mode: str,
    source: str,
    now: datetime,
    owner: str | None = None,
    lease_until: datetime | None = None,
    baseline: bool = False,
) -> None:
    """Record a job as running (in the caller's transaction)."""
    values = {"id": job_id, "kind": kind, "mode": mode, "source": source, "started_at": now}
    values |= {"owner": owner, "lease_until": lease_until, "baseline": baseline}
    conn.execute(insert(ingest_jobs).values(status=JobStatus.RUNNING, **values))


def renew(
    conn: Connection, job_id: str, *, counts: Mapping[str, int], lease_until: datetime
) -> None:
    """Record what a running job applied so far and extend its lease (caller's transaction)."""
    figures = {name: counts[name] for name in (*COUNTS, "notifications")}
    conn.execute(
        update(ingest_jobs)
        .where(ingest_jobs.c.id == job_id)
        .values(lease_until=lease_until, **figures)
    )


@dataclass(kw_only=True)
class Lease:
    """A running job's lease, renewed with its counts as batches commit (``Run``'s checkpoint).

    A batch that commits nothing renews it only once a quarter of ``lease_s`` has passed.
    ``claimed`` holds the counts written last: what the job's committed work covers.
    """

    job_id: str
    clock: Clock
    lease_s: float
    renewed_at: datetime
    claimed: Counts = field(default_factory=Counts)

    def until(self, now: datetime) -> datetime:
        return now + timedelta(seconds=self.lease_s)

    def due(self) -> bool:
        return self.clock() - self.renewed_at >= timedelta(seconds=self.lease_s / 4)

    def write(self, conn: Connection, counts: Counts) -> None:
        now = self.clock()
        renew(conn, self.job_id, counts=counts.as_dict(), lease_until=self.until(now))
        self.renewed_at = now
        self.claimed = copy(counts)  # the run's own counts go on moving


def is_abandoned(
    *, owner: str | None, lease_until: datetime | None, now: datetime, gone: Gone
) -> bool:
    """Whether a running job was abandoned: its process is gone, or (when that cannot be told)
    its lease ran out. A job without a lease (recorded before leases) is never guessed dead."""
    verdict = gone(owner)
    if verdict is not None:
        return verdict
    return lease_until is not None and lease_until < now


def dead(conn: Connection, *, now: datetime, gone: Gone) -> list[Row[Any]]:
    """The running jobs that were abandoned (their process gone or their lease run out), read
    only: ``abandon_dead`` marks them."""
    running = conn.execute(select(ingest_jobs).where(ingest_jobs.c.status == JobStatus.RUNNING))
    return [
        row
        for row in running
        if is_abandoned(owner=row.owner, lease_until=row.lease_until, now=now, gone=gone)
    ]


def abandon_dead(conn: Connection, *, now: datetime, gone: Gone) -> list[dict[str, Any]]:
    """Mark every running job that was abandoned as such; return them (caller's transaction)."""
    j = ingest_jobs.c
    found = dead(conn, now=now, gone=gone)
    for row in found:
        conn.execute(
            update(ingest_jobs)
            .where(j.id == row.id, j.status == JobStatus.RUNNING)
            .values(status=JobStatus.ABANDONED, finished_at=now)
        )
    return [_job(row) | {"status": JobStatus.ABANDONED, "finished_at": now} for row in found]


def finish(
    conn: Connection,
    job_id: str,
    *,
    status: str,
    counts: Mapping[str, int],
    rejects: Sequence[Mapping[str, Any]],
    now: datetime,
) -> None:
    """Record how a job ended: its status, counts and the rejects kept (caller's transaction)."""
    figures = {name: counts[name] for name in (*COUNTS, "notifications")}
    conn.execute(
        update(ingest_jobs)
        .where(ingest_jobs.c.id == job_id)
        .values(status=status, finished_at=now, **figures)
    )
    if rejects:
        conn.execute(insert(job_rejects), [{"job_id": job_id, **r} for r in rejects])


def purge(conn: Connection, *, before: datetime) -> int:
    """Delete the jobs that ended before ``before`` (never a running one) and whose
    notifications are all gone, with their rejects; returns how many (caller's transaction).

    Run after the notifications' purge (``queue.purge``): a job with a notification a delivery
    still needs stays, so the log can still name it. A job's notifications were made while it
    ran, so each is looked for in its own time range of the ``created_at`` index.
    """
    j, n = ingest_jobs.c, notifications.c
    ended = conn.execute(
        select(j.id, j.started_at, j.finished_at).where(
            j.status != JobStatus.RUNNING, j.finished_at < before
        )
    ).all()
    gone = [
        row.id
        for row in ended
        if conn.execute(
            select(n.id)
            .where(n.created_at >= row.started_at, n.created_at <= row.finished_at + _END_SLACK)
            .where(n.job_id == row.id)
            .limit(1)
        ).first()
        is None
    ]
    for at in range(0, len(gone), _DELETE_CHUNK):
        chunk = gone[at : at + _DELETE_CHUNK]
        conn.execute(delete(job_rejects).where(job_rejects.c.job_id.in_(chunk)))
        conn.execute(delete(ingest_jobs).where(j.id.in_(chunk)))
    return len(gone)


def recent(conn: Connection, *, limit: int = 50) -> list[dict[str, Any]]:
    """The ``limit`` most recently started jobs, newest first, with their counts (read backwards
    along the ``(started_at, id)`` index: no sort of the whole table)."""
    j = ingest_jobs.c
    rows = conn.execute(select(ingest_jobs).order_by(j.started_at.desc(), j.id.desc()).limit(limit))
    return [_job(row) for row in rows]


def find(conn: Connection, job_id: str, *, rejects_limit: int = 1000) -> dict[str, Any] | None:
    """The job with id ``job_id`` and its first rejects (by line), or None when there is none."""
    row = conn.execute(select(ingest_jobs).where(ingest_jobs.c.id == job_id)).first()
    if row is None:
        return None
    r = job_rejects.c
    rejects = conn.execute(
        select(r.line, r.field, r.reason)
        .where(r.job_id == job_id)
        .order_by(r.line, r.id)
        .limit(rejects_limit)
    )
    return _job(row) | {
        "rejects": [{"line": x.line, "field": x.field, "reason": x.reason} for x in rejects]
    }


def _job(row: Any) -> dict[str, Any]:
    return {
        "job_id": row.id,
        "kind": row.kind,
        "mode": row.mode,
        "baseline": bool(row.baseline),
        "source": row.source,
        "status": row.status,
        "started_at": row.started_at,
        "finished_at": row.finished_at,
        "counts": {name: getattr(row, name) for name in (*COUNTS, "notifications")},
    }
