"""Reading ingest jobs back: their status, counts and rejects (the engine writes them)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from deltahook.store.tables import ingest_jobs, job_rejects

COUNTS = ("received", "rejected", "duplicates", "unchanged", "inserted", "updated", "deleted")


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
    return {
        "job_id": row.id,
        "kind": row.kind,
        "mode": row.mode,
        "source": row.source,
        "status": row.status,
        "started_at": row.started_at,
        "finished_at": row.finished_at,
        "counts": {name: getattr(row, name) for name in (*COUNTS, "notifications")},
        "rejects": [{"line": x.line, "field": x.field, "reason": x.reason} for x in rejects],
    }
