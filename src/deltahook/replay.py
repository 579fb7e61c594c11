"""The recent past replayed: the logged row changes of the last jobs, through a rule set.

The change log keeps only the changed fields, so each entity's bodies are rebuilt backwards
from today's snapshot: undoing a job's row changes gives the body before it, and the diff of
before and after gives the job's entity changes again, whole rows included. The replay reads
today's references and rule (breakpoint) state, and writes nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import Connection, select

from deltahook.catalog.entities import Collection, EntityKind
from deltahook.changes.canonical import key_string
from deltahook.changes.diff import diff_entity
from deltahook.changes.model import MISSING, EntityChange
from deltahook.errors import FeedError
from deltahook.notifications import Notification
from deltahook.rules.evaluate import RulesDecider
from deltahook.store import changelog, snapshots
from deltahook.store.changelog import LoggedChange
from deltahook.store.tables import ingest_jobs

if TYPE_CHECKING:
    from deltahook.engine import Engine

Body = dict[str, Any]


def notifications(
    engine: Engine,
    *,
    last_jobs: int | None = None,
    since: datetime | None = None,
) -> list[Notification]:
    """What the engine's rules fire for the row changes of the last ``last_jobs`` jobs, or of
    those logged at or after ``since``; writes nothing."""
    if engine.rules is None:
        raise FeedError("replaying needs a rule set")
    # Not ``reading``: the rules write their state (breakpoints, cooldowns) as they decide, rolled
    # back below, and on SQLite a read-only transaction that then writes is refused ("database is
    # locked", at once) whenever another writer committed since its first read (an ingest's batch).
    with engine.db.connect() as conn:
        start = since if last_jobs is None else _start_of_last(conn, last_jobs)
        jobs = changes_by_job(conn, engine, changelog.read(conn, since=start))
        decider = RulesDecider(engine.rules, page=engine.settings.batch_size)
        fired: list[Notification] = []
        try:
            for _logged, changes in jobs:  # a new job id: the logged job's ids are taken
                job_id, now = engine.new_id(), engine.clock()
                fired.extend(decider.decide(conn, changes, job_id=job_id, now=now))
                for page in decider.fan_out(conn, job_id=job_id, now=now):
                    fired.extend(page)
                decider.end_batch(kept=True)  # as a batch kept: what it decided may move to disk
        finally:
            decider.close()
            conn.rollback()
    return fired


def _start_of_last(conn: Connection, count: int) -> datetime | None:
    if count < 1:
        raise FeedError("--jobs must be at least 1")
    j = ingest_jobs.c
    starts = conn.execute(select(j.started_at).order_by(j.started_at.desc()).limit(count))
    found = [row.started_at for row in starts]
    return min(found) if found else None


def changes_by_job(
    conn: Connection, engine: Engine, logged: list[LoggedChange]
) -> list[tuple[str, list[EntityChange]]]:
    """The entity changes of each job, oldest job first, rebuilt from ``logged`` (which must
    reach up to now) and today's snapshots."""
    jobs: dict[str, dict[tuple[str, str], list[LoggedChange]]] = {}
    for change in logged:
        jobs.setdefault(change.job_id, defaultdict(list))[(change.kind, change.entity_key)].append(
            change
        )
    bodies = _current(conn, {entity for entity_rows in jobs.values() for entity in entity_rows})
    out: list[tuple[str, list[EntityChange]]] = []
    for job_id in reversed(list(jobs)):
        changes = []
        for (kind_name, key), rows in jobs[job_id].items():
            kind = engine.catalog[kind_name]
            after = bodies.get((kind_name, key))
            before = _undo(kind, after, rows)
            bodies[(kind_name, key)] = before
            changes.append(
                diff_entity(kind, key=key, parent_key=rows[0].parent_key, old=before, new=after)
            )
        out.append((job_id, changes))
    return out[::-1]


def _current(
    conn: Connection, entities: set[tuple[str, str]]
) -> dict[tuple[str, str], Body | None]:
    keys: dict[str, list[str]] = defaultdict(list)
    for kind, key in entities:
        keys[kind].append(key)
    found: dict[tuple[str, str], Body | None] = {}
    for kind, kind_keys in keys.items():
        stored = snapshots.fetch(conn, kind, kind_keys, bodies=True)
        for key in kind_keys:
            s = stored.get(key)
            found[(kind, key)] = orjson.loads(s.body) if s is not None and s.body else None
    return found


def _undo(kind: EntityKind, after: Body | None, rows: list[LoggedChange]) -> Body | None:
    """The body before ``rows`` changed it into ``after`` (None: absent)."""
    body: Body = orjson.loads(orjson.dumps(after)) if after is not None else {}
    for row in rows:
        if row.table == kind.table and row.op == "insert":
            return None
        container = _container(body, kind.table, kind.collections, row)
        if container is None:
            continue
        target, name, key = container
        if row.op == "insert":
            target.get(name, {}).pop(key, None)
            if name in target and not target[name]:
                del target[name]
            continue
        own = target if name == "" else target.setdefault(name, {}).setdefault(key, {})
        for field, old, _new in row.fields:
            if old is MISSING:
                own.pop(field, None)
            else:
                own[field] = old
    return body


def _container(
    body: Body, root: str, collections: Mapping[str, Collection], row: LoggedChange
) -> tuple[Body, str, str] | None:
    """Where ``row`` lives: (the object holding its collection, the collection's name, its
    key there), or (``body``, "", "") for the root row; None for a row no longer there."""
    if row.table == root:
        return body, "", ""
    path = _path(collections, row.table)
    if path is None:
        return None
    target = body
    for coll in path[:-1]:
        rows = target.get(coll.name)
        key = key_string([row.row_key.get(f) for f in coll.key])
        if rows is None or key not in rows:
            if row.op == "insert":
                return None
            rows = target.setdefault(coll.name, {})
            rows.setdefault(key, {})
        target = rows[key]
    last = path[-1]
    return target, last.name, key_string([row.row_key.get(f) for f in last.key])


def _path(collections: Mapping[str, Collection], table: str) -> list[Collection] | None:
    for coll in collections.values():
        if coll.table == table:
            return [coll]
        below = _path(coll.collections, table)
        if below is not None:
            return [coll, *below]
    return None
