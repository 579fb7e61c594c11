"""Writing a write batch: snapshots, row changes, notifications and the job's checkpoint in one
transaction, retried whole when a concurrent ingest got there first.

Per write batch: fetch the stored hashes and bodies of its keys in one query; diff only the
entities whose hash changed; decide notifications (or, for a baseline, settle rule state); write
snapshots, the change log, references and the outbox; write the job's checkpoint and commit
(not in a preview). ``pipeline.Run`` collects the batches (``writebatch``) and hands them here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

import orjson
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError, OperationalError

from deltahook.admission import Admission
from deltahook.candidates import Candidate
from deltahook.catalog.entities import EntityKind
from deltahook.changes.diff import diff_entity
from deltahook.changes.model import EntityChange
from deltahook.errors import ConflictError
from deltahook.feeds.readers import Record
from deltahook.notifications import Notification
from deltahook.results import Counts, Mode, RunResult
from deltahook.store import changelog, outbox, refs, snapshots, snapshotwrites

_CONFLICT_RETRIES = 5

Batch = Mapping[str, Candidate | Record]  # a write batch: records by entity key, in feed order


class Decider(Protocol):
    """Turns the entity changes of one batch into notifications (the rules engine).

    A decider that remembers what its job decided (``RulesDecider``) also has ``end_batch(kept=)``,
    called once each batch was committed (or, in a preview, applied) or rolled back.
    """

    def decide(
        self, conn: Connection, changes: Sequence[EntityChange], *, job_id: str, now: datetime
    ) -> list[Notification]: ...


@runtime_checkable
class Settler(Protocol):
    """A decider that can store the rule state changes lead to without deciding anything."""

    def settles(self, kind: str) -> bool:
        """Whether changes of ``kind`` can move stored rule state (breakpoints)."""
        ...

    def settle(
        self, conn: Connection, changes: Sequence[EntityChange], *, now: datetime
    ) -> None: ...


class Checkpoint(Protocol):
    """Records what a run applied, in the transaction of each batch it commits (a job lease)."""

    def due(self) -> bool:
        """Whether a batch that commits nothing should record progress anyway."""
        ...

    def write(self, conn: Connection, counts: Counts) -> None: ...


@dataclass(kw_only=True)
class Writer:
    """Writes the write batches of one run (see ``pipeline.Run`` for the fields)."""

    kind: EntityKind
    mode: Mode
    admission: Admission
    decider: Decider | None
    clock: Callable[[], datetime]
    result: RunResult
    commit: bool
    collect: bool
    checkpoint: Checkpoint | None
    baseline: bool
    change_log: bool
    on_batch: Callable[[RunResult], None] | None

    def __post_init__(self) -> None:
        self._settler = _settler(self.decider, self.kind.name) if self.baseline else None
        # A baseline diffs an entity only when its rule state or the caller needs the changes.
        self._diff = not self.baseline or self.collect or self._settler is not None

    @property
    def reads_bodies(self) -> bool:
        """Whether the candidates' canonical bodies are read here (to diff them)."""
        return self._diff

    def apply(
        self,
        conn: Connection,
        batch: Batch | Callable[[], Batch],
        claim: Counts | None = None,
    ) -> None:
        """Write ``batch`` (records by entity key, in feed order) over ``conn`` and commit it;
        the job's checkpoint then claims ``claim`` (default: the run's counts) and what the
        batch applied. A batch that lost a race with a concurrent ingest is retried whole.

        ``batch`` may be a function that reads it from the store (a sweep's removals): it is
        called again for each attempt, so that a retry writes what it reads after the writer
        it raced has committed, not values read before (that writer's update would be lost).
        """
        for attempt in range(1, _CONFLICT_RETRIES + 1):
            rows = batch() if callable(batch) else batch
            if not rows:
                return
            tally = self.result.tally()  # a retried batch starts a fresh one: counted once
            try:
                self._apply(conn, rows, tally)
            except (ConflictError, IntegrityError, OperationalError) as exc:
                if not _is_conflict(exc) or not self.commit or attempt == _CONFLICT_RETRIES:
                    raise
                conn.rollback()
                self._end_batch(kept=False)
                continue
            if self.commit:
                if self.checkpoint is not None:
                    claimed = self.result.counts if claim is None else claim
                    self.checkpoint.write(conn, _sum(claimed, tally.counts))
                _commit_batch(conn)
            self._end_batch(kept=True)
            if self.on_batch is not None:
                self.on_batch(tally)
                tally.changes.clear()
                tally.notifications.clear()
            self.result.add(tally)
            return

    def _end_batch(self, *, kept: bool) -> None:
        """Tell the decider whether the batch it decided was kept (see ``Decider``)."""
        end_batch = getattr(self.decider, "end_batch", None)
        if end_batch is not None:
            end_batch(kept=kept)

    def _apply(self, conn: Connection, batch: Batch, tally: RunResult) -> None:
        merge = self.mode == "merge"
        # The bodies come with the hashes, in one read: what reaches a write batch has almost
        # always changed (identical lines never do), and a body read with its row costs little
        # more than its hash, where a second query for them cost a tenth of writing the batch.
        stored = snapshots.fetch(conn, self.kind.name, list(batch), bodies=merge or self._diff)
        if merge:
            candidates = self.admission.merged(batch, stored, into=tally)
        else:
            candidates = [c for c in batch.values() if isinstance(c, Candidate)]
        changed: list[Candidate] = []
        relined: dict[str, tuple[bytes, int]] = {}  # unchanged, from a line not stored
        for c in candidates:
            s = stored.get(c.key)
            if s is None or s.hash != c.hash:
                changed.append(c)
            elif c.line_hash is not None:
                relined[c.key] = (c.line_hash, s.version)
        tally.counts.unchanged += len(candidates) - len(changed)
        if relined:
            snapshotwrites.reline(conn, self.kind.name, relined)
        if changed:
            self._commit_changes(conn, changed, stored, tally)

    def _commit_changes(
        self,
        conn: Connection,
        changed: list[Candidate],
        stored: dict[str, snapshots.Stored],
        tally: RunResult,
    ) -> None:
        changes: list[EntityChange] = []
        writes: list[snapshotwrites.SnapshotWrite] = []
        removals: dict[str, int] = {}
        for c in changed:
            old = stored.get(c.key)
            if self._diff:
                old_body = orjson.loads(old.body) if old is not None and old.body else None
                changes.append(
                    diff_entity(
                        self.kind, key=c.key, parent_key=c.parent_key, old=old_body, new=c.body
                    )
                )
            if c.body is None:
                assert old is not None
                removals[c.key] = old.version
                tally.counts.deleted += 1
                continue
            version = old.version if old is not None else 0
            writes.append(
                snapshotwrites.SnapshotWrite(
                    key=c.key,
                    parent_key=c.parent_key,
                    scope=c.scope,
                    hash=c.hash,
                    body=c.data,
                    version=version,
                    line_hash=c.line_hash,
                )
            )
            if old is None:
                tally.counts.inserted += 1
            else:
                tally.counts.updated += 1
        now = self.clock()
        snapshotwrites.write(
            conn,
            self.kind.name,
            writes,
            now=now,
            job_id=self.result.job_id,
            refs_follow_key=self.kind.refs_follow_key,
        )
        snapshotwrites.remove(conn, self.kind.name, removals)
        if self.commit and self.change_log and not self.baseline:
            changelog.write(conn, changes, job_id=self.result.job_id, now=now)
        named = {c.key: c.refs for c in changed}
        refs.record(conn, self.kind, named, new={c.key for c in changed if c.key not in stored})
        self._notify(conn, changes, now, tally)

    def _notify(
        self, conn: Connection, changes: list[EntityChange], now: datetime, tally: RunResult
    ) -> None:
        if self.collect:
            tally.changes.extend(changes)
        if self.baseline:
            if self._settler is not None:
                self._settler.settle(conn, changes, now=now)
            return
        if self.decider is None:
            return
        job = self.result.job_id
        self._record(conn, self.decider.decide(conn, changes, job_id=job, now=now), now, tally)
        fan_out = getattr(self.decider, "fan_out", None)
        for page in fan_out(conn, job_id=job, now=now) if fan_out is not None else ():
            self._record(conn, page, now, tally)  # before the next page is read (see fan_out)

    def _record(
        self, conn: Connection, decided: list[Notification], now: datetime, tally: RunResult
    ) -> None:
        tally.counts.notifications += len(decided)
        tally.counts.deliveries += outbox.record(conn, decided, now=now)
        if self.collect:
            tally.notifications.extend(decided)


def _settler(decider: Decider | None, kind: str) -> Settler | None:
    """The decider as a ``Settler`` when it keeps rule state for ``kind``, else None."""
    settles = getattr(decider, "settles", None)
    if settles is None or not settles(kind):
        return None
    assert isinstance(decider, Settler)
    return decider


def _commit_batch(conn: Connection) -> None:
    """Commit an applied batch; on PostgreSQL without waiting for the disk to have its WAL.

    Each batch's commit waited for an fsync (``synchronous_commit`` off for that transaction
    only; SQLite in WAL mode with ``synchronous=NORMAL`` does not wait either). The batch stays
    atomic and visible at once. A crash of the server may undo the batches of its last moments
    (a fraction of a second) of an ingest still running: its job is then abandoned, and running
    the feed again applies them, as after any crash mid-feed (changes streamed to ``on_batch``
    may then come twice, never not at all). Nothing confirmed outside is lost: the job's end
    commits durably, and with it every commit before it (the WAL is one sequence), as does a
    dispatcher's claim of a delivery before it is sent.
    """
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
    conn.commit()


def _sum(a: Counts, b: Counts) -> Counts:
    return Counts(**{name: getattr(a, name) + getattr(b, name) for name in Counts.__slots__})


# PostgreSQL's deadlock and serialisation failures: the batch lost a race and is retried.
_RETRYABLE_SQLSTATES = {"40P01", "40001"}


# The tables two ingests of one kind can both insert the same row into (a new entity, and its
# references): a unique violation there means the other got there first.
_RACED_TABLES = frozenset({"entities", "entity_refs"})
_SQLITE_UNIQUE = "UNIQUE constraint failed: "


def _is_conflict(exc: Exception) -> bool:
    """True for errors that mean another writer got there first, not for real failures: a
    unique violation in any other table (or a NOT NULL one, anywhere) is raised at once."""
    if isinstance(exc, ConflictError):
        return True
    orig = getattr(exc, "orig", None)
    if isinstance(exc, IntegrityError):
        return _raced(orig)
    return getattr(orig, "sqlstate", None) in _RETRYABLE_SQLSTATES


def _raced(orig: Any) -> bool:
    """Whether a driver's integrity error is a unique violation in a ``_RACED_TABLES`` table:
    psycopg names the table; SQLite's message the columns, as ``table.column, ...``."""
    diag = getattr(orig, "diag", None)
    if diag is not None:
        return getattr(orig, "sqlstate", None) == "23505" and diag.table_name in _RACED_TABLES
    text = str(orig)
    if not text.startswith(_SQLITE_UNIQUE):
        return False
    columns = text.removeprefix(_SQLITE_UNIQUE).split(", ")
    return {column.partition(".")[0] for column in columns} <= _RACED_TABLES
