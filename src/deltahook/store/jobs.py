"""Ingest jobs in the store: started, finished with their counts and rejects, read back."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from deltahook.store.tables import ingest_jobs, job_rejects

COUNTS = ("received", "rejected", "duplicates", "unchanged", "inserted", "updated", "deleted")


def start(
    conn: Connection, *, job_id: str, kind: str, mode: str, source: str, now: datetime
) -> None:
    """Record a job as running (in the caller's transaction)."""
    values = {"id": job_id, "kind": kind, "mode": mode, "source": source, "started_at": now}
    conn.execute(insert(ingest_jobs).values(status="running", **values))


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


def recent(conn: Connection, *, limit: int = 50) -> list[dict[str, Any]]:
    """The ``limit`` most recently started jobs, newest first, with their counts."""
    rows = conn.execute(
        select(ingest_jobs).order_by(ingest_jobs.c.started_at.desc(), ingest_jobs.c.id).limit(limit)
    )
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
        "source": row.source,
        "status": row.status,
        "started_at": row.started_at,
        "finished_at": row.finished_at,
        "counts": {name: getattr(row, name) for name in (*COUNTS, "notifications")},
    }
