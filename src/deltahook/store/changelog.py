"""The change log: the row changes an ingest stored, compact, in the snapshot transaction.

Each row holds the job, the entity, the row's table and key, the operation and only the
changed fields with their old and new values. It is kept as long as the delivery log
(``queue.purge`` removes both), so ``rules diff`` can replay the recent past.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, delete, select

from deltahook.changes.model import MISSING, EntityChange
from deltahook.store.bulk import insert_many
from deltahook.store.tables import change_log


@dataclass(frozen=True, slots=True, kw_only=True)
class LoggedChange:
    """One logged row change; ``fields`` are (name, old, new), ``MISSING`` where absent."""

    job_id: str
    at: datetime
    kind: str
    entity_key: str
    parent_key: str | None
    table: str
    row_key: dict[str, Any]
    op: str
    fields: tuple[tuple[str, Any, Any], ...]


def write(conn: Connection, changes: Sequence[EntityChange], *, job_id: str, now: datetime) -> None:
    """Log every row change of ``changes`` in the caller's transaction."""
    rows = [
        {
            "job_id": job_id,
            "at": now,
            "kind": change.kind,
            "entity_key": change.key,
            "parent_key": change.parent_key,
            "row_table": row.table,
            "row_key": orjson.dumps(dict(row.key)),
            "op": row.op.value,
            "fields": orjson.dumps([_field(f.field, f.old, f.new) for f in row.fields]),
        }
        for change in changes
        for row in change.rows
    ]
    insert_many(conn, change_log, rows)


def read(
    conn: Connection,
    *,
    job_ids: Sequence[str] | None = None,
    since: datetime | None = None,
) -> list[LoggedChange]:
    """The logged changes of ``job_ids`` and/or at or after ``since``, in the order logged."""
    c = change_log.c
    query = select(change_log).order_by(c.id)
    if job_ids is not None:
        query = query.where(c.job_id.in_(list(job_ids)))
    if since is not None:
        query = query.where(c.at >= since)
    return [
        LoggedChange(
            job_id=r.job_id,
            at=r.at,
            kind=r.kind,
            entity_key=r.entity_key,
            parent_key=r.parent_key,
            table=r.row_table,
            row_key=orjson.loads(r.row_key),
            op=r.op,
            fields=tuple(_unfield(f) for f in orjson.loads(r.fields)),
        )
        for r in conn.execute(query)
    ]


def purge(conn: Connection, *, before: datetime) -> int:
    """Delete the changes logged before ``before``; how many."""
    return int(conn.execute(delete(change_log).where(change_log.c.at < before)).rowcount)


# A field is [name, mask, old, new]: mask bit 1 says old is present, bit 2 new (a missing
# field is not the same as null).
def _field(name: str, old: Any, new: Any) -> list[Any]:
    mask = (old is not MISSING) | (new is not MISSING) << 1
    return [name, mask, None if old is MISSING else old, None if new is MISSING else new]


def _unfield(item: list[Any]) -> tuple[str, Any, Any]:
    name, mask, old, new = item
    return name, old if mask & 1 else MISSING, new if mask & 2 else MISSING
