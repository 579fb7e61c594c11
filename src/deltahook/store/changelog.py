"""The change log: the row changes an ingest stored, compact, in the snapshot transaction.

Each row holds the job, the entity, the row's table and key, the operation and only the
changed fields with their old and new values. It is kept as long as the delivery log
(``queue.purge`` removes both), so ``rules diff`` can replay the recent past.

A new entity is logged as the insert of its root row alone: every other row it came with is
in the snapshot it made, and a replay, which rebuilds each job's bodies backwards from today's
snapshots, needs no more than "absent before this job" (``replay._undo``). A first load logs
one row per entity rather than one per row of it (a SKU has about seven).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, delete, select

from deltahook.changes.canonical import kept
from deltahook.changes.model import MISSING, EntityChange, Op, RowChange, pack_field, unpack_field
from deltahook.store.bulk import insert_columns
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
    """Log the row changes of ``changes`` in the caller's transaction: every row of an updated
    or deleted entity, the root row of a new one (see the module)."""
    kinds: list[str] = []
    entity_keys: list[str] = []
    parent_keys: list[str | None] = []
    tables: list[str] = []
    row_keys: list[bytes] = []
    ops: list[str] = []
    fields: list[bytes] = []
    dumps = orjson.dumps
    for change in changes:
        for row in change.rows[:1] if change.op is Op.INSERT else change.rows:
            kinds.append(change.kind)
            entity_keys.append(change.key)
            parent_keys.append(change.parent_key)
            tables.append(row.table)
            row_keys.append(kept(dumps(dict(row.key))))
            ops.append(_OPS[row.op])
            fields.append(kept(dumps(_logged_fields(row))))
    columns: dict[str, Sequence[Any]] = {"kind": kinds, "entity_key": entity_keys}
    columns |= {"parent_key": parent_keys, "row_table": tables, "row_key": row_keys}
    columns |= {"op": ops, "fields": fields}
    insert_columns(conn, change_log, columns, same={"job_id": job_id, "at": now})


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
            fields=_read_fields(orjson.loads(r.fields)),
        )
        for r in conn.execute(query)
    ]


def purge(conn: Connection, *, before: datetime) -> int:
    """Delete the changes logged before ``before``; how many."""
    return int(conn.execute(delete(change_log).where(change_log.c.at < before)).rowcount)


_OPS = {op: op.value for op in Op}


def _logged_fields(row: RowChange) -> Any:
    """What ``fields`` holds for ``row``: an inserted row is every field of its new row, each
    from absent, so it is stored as that row, ``{name: new}`` (orjson writes it whole: a first
    load logs every row of every entity); any other as ``[pack_field(...), ...]``."""
    if row.op is Op.INSERT and row.new is not None and len(row.fields) == len(row.new):
        return row.new
    return [pack_field(n, old, new) for n, old, new in row.fields]


def _read_fields(stored: Any) -> tuple[tuple[str, Any, Any], ...]:
    if isinstance(stored, dict):  # an inserted row (see ``_logged_fields``), fields by name
        return tuple((name, MISSING, new) for name, new in sorted(stored.items()))
    return tuple(unpack_field(f) for f in stored)
