"""Ingest and preview: the one path from a feed to stored snapshots and notifications.

Per batch of records: validate, key, normalise and hash each record; fetch the stored hashes of
the batch's keys in one query; diff only the entities whose hash changed; decide notifications;
write snapshots and notifications in one transaction. Preview runs exactly this code inside one
transaction that is rolled back at the end.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal, Protocol

import orjson
import xxhash
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError, OperationalError

from deltahook.catalog.entities import EntityKind
from deltahook.changes import canonical
from deltahook.changes.diff import diff_entity
from deltahook.changes.model import EntityChange
from deltahook.errors import ConflictError
from deltahook.feeds.merge import merge_records, without_unsent
from deltahook.feeds.readers import Item, Record, Reject
from deltahook.feeds.seen import SeenKeys
from deltahook.feeds.validate import RecordValidator
from deltahook.notifications import Notification
from deltahook.store import outbox, snapshots

Mode = Literal["upsert", "merge", "full"]
MODES: tuple[Mode, ...] = ("upsert", "merge", "full")
MAX_REJECTS_KEPT = 10_000
_CONFLICT_RETRIES = 5


class Decider(Protocol):
    """Turns the entity changes of one batch into notifications (the rules engine)."""

    def decide(
        self, conn: Connection, changes: Sequence[EntityChange], *, job_id: str, now: datetime
    ) -> list[Notification]: ...


@dataclass(slots=True)
class Counts:
    received: int = 0
    rejected: int = 0
    duplicates: int = 0
    unchanged: int = 0
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    notifications: int = 0
    deliveries: int = 0

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__slots__}


@dataclass(slots=True, kw_only=True)
class RunResult:
    """What one ingest (or preview) did: counts, rejects, and on request the changes."""

    job_id: str
    kind: str
    mode: Mode
    counts: Counts = field(default_factory=Counts)
    rejects: list[Reject] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    changes: list[EntityChange] = field(default_factory=list)
    notifications: list[Notification] = field(default_factory=list)
    near_misses: list[dict[str, Any]] = field(default_factory=list)  # preview --explain


@dataclass(slots=True)
class _Candidate:
    """A record made ready to compare: its key, canonical body and hash (or None to delete)."""

    line: int
    key: str
    parent_key: str | None
    scope: str
    body: dict[str, Any] | None
    data: bytes = b""
    hash: bytes = b""
    line_hash: bytes | None = None


@dataclass(kw_only=True)
class Run:
    """One pass of a feed through the pipeline, over one database connection."""

    conn: Connection
    kind: EntityKind
    mode: Mode
    decider: Decider | None
    clock: Callable[[], datetime]
    result: RunResult
    batch_size: int
    commit: bool
    collect: bool
    _seen: SeenKeys = field(default_factory=SeenKeys)
    _scopes: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._full = RecordValidator(self.kind)
        self._partial = RecordValidator(self.kind, partial=True) if self.mode == "merge" else None
        # A merge record's effect depends on what is stored, so only whole records may be
        # recognised as unchanged by their bytes alone.
        self._line_hashes = self.mode != "merge"

    def feed(self, items: Iterable[Item], progress: Callable[[int], None] | None = None) -> None:
        """Apply every record of the feed, batch by batch; then sweep if the feed is full."""
        with _fewer_collections():
            for batch in _batched(items, self.batch_size):
                self._batch(batch)
                if progress is not None:
                    progress(len(batch))
            if self.mode == "full":
                self._sweep()

    def _batch(self, items: list[Item]) -> None:
        records: dict[str, _Candidate | Record] = {}
        verbatim: dict[str, Record] = {}
        for item in items:
            self.result.counts.received += 1
            if isinstance(item, Reject):
                self._reject(item)
                continue
            self._admit(item, records, verbatim)
        if verbatim:
            self._skip_verbatim(verbatim, records)
        self._apply_with_retry(list(records.values()))

    def _admit(
        self,
        record: Record,
        batch: dict[str, _Candidate | Record],
        verbatim: dict[str, Record],
    ) -> None:
        key = _quick_key(self.kind, record.data) if self._line_hashes else None
        if key is None or record.raw is None:
            validator = self._partial or self._full
            problem = validator.problem(record.data)
            if problem is not None:
                self._reject(Reject(record.line, problem.field, problem.reason))
                return
            key = canonical.entity_key(self.kind, record.data)
        self._note_duplicate(key, record.line, batch, verbatim)
        if record.raw is not None and self._line_hashes:
            verbatim[key] = record  # checked against the stored line hash before any work
        elif self.mode == "merge":
            batch[key] = record  # merged with the stored body once that is fetched
        elif (candidate := self._candidate(record.line, record.data)) is not None:
            batch[key] = candidate

    def _note_duplicate(
        self, key: str, line: int, *batches: dict[str, _Candidate | Record] | dict[str, Record]
    ) -> None:
        if self._seen.add(xxhash.xxh3_64_intdigest(key)):
            self.result.counts.duplicates += 1
            if len(self.result.notices) < MAX_REJECTS_KEPT:
                self.result.notices.append(
                    f"line {line}: duplicate key {key!r} in this feed; the last one wins"
                )
            for batch in batches:
                batch.pop(key, None)

    def _skip_verbatim(
        self, verbatim: dict[str, Record], batch: dict[str, _Candidate | Record]
    ) -> None:
        """Count byte-identical lines as unchanged; validate and prepare the others.

        A line identical to the one that produced the stored snapshot cannot change it, so it
        is neither validated again nor normalised nor hashed: the cheapest path for the common
        nightly feed where almost nothing changed.
        """
        stored = snapshots.line_hashes(self.conn, self.kind.name, list(verbatim))
        for key, record in verbatim.items():
            assert record.raw is not None
            line_hash = canonical.digest(record.raw)
            if stored.get(key) == line_hash:
                self.result.counts.unchanged += 1
                if self.kind.scope:
                    self._scopes.add(canonical.scope_string(self.kind, record.data))
                continue
            problem = self._full.problem(record.data)
            if problem is not None:
                self._reject(Reject(record.line, problem.field, problem.reason))
            elif (candidate := self._candidate(record.line, record.data)) is not None:
                candidate.line_hash = line_hash
                batch[key] = candidate

    def _candidate(self, line: int, data: dict[str, Any]) -> _Candidate | None:
        try:
            body = canonical.normalise(self.kind, data)
        except canonical.NormaliseError as exc:
            self._reject(Reject(line, exc.field, str(exc).split(": ", 1)[1]))
            return None
        scope = canonical.scope_string(self.kind, body)
        self._scopes.add(scope)
        raw = canonical.canonical_bytes(body)
        return _Candidate(
            line,
            canonical.entity_key(self.kind, body),
            canonical.parent_key(self.kind, body),
            scope,
            body,
            raw,
            canonical.digest(raw),
        )

    def _reject(self, reject: Reject) -> None:
        self.result.counts.rejected += 1
        if len(self.result.rejects) < MAX_REJECTS_KEPT:
            self.result.rejects.append(reject)

    def _apply_with_retry(self, batch: list[_Candidate | Record]) -> None:
        if not batch:
            return
        for attempt in range(1, _CONFLICT_RETRIES + 1):
            before = self._tally()
            try:
                self._apply(batch)
            except (ConflictError, IntegrityError, OperationalError) as exc:
                if not _is_conflict(exc) or not self.commit or attempt == _CONFLICT_RETRIES:
                    raise
                self.conn.rollback()
                self._untally(before)  # the batch is applied afresh: count it once
                continue
            if self.commit:
                self.conn.commit()
            return

    def _tally(self) -> tuple[Counts, int, int, int]:
        r = self.result
        return replace(r.counts), len(r.rejects), len(r.changes), len(r.notifications)

    def _untally(self, tally: tuple[Counts, int, int, int]) -> None:
        counts, rejects, changes, notifications = tally
        self.result.counts = counts
        del self.result.rejects[rejects:]
        del self.result.changes[changes:]
        del self.result.notifications[notifications:]

    def _apply(self, batch: Sequence[_Candidate | Record]) -> None:
        keys = [_key_of(self.kind, item) for item in batch]
        merge = self.mode == "merge"
        stored = snapshots.fetch(self.conn, self.kind.name, keys, bodies=merge)
        if merge:
            candidates = self._merged(batch, stored)
        else:
            candidates = [c for c in batch if isinstance(c, _Candidate)]
        changed = [c for c in candidates if (s := stored.get(c.key)) is None or s.hash != c.hash]
        if changed and not merge:
            old_keys = [c.key for c in changed if c.key in stored]
            stored.update(snapshots.fetch(self.conn, self.kind.name, old_keys, bodies=True))
            # A concurrent ingest may have committed between the two reads: compare again, or
            # a record it already stored would be written once more (an empty change).
            changed = [c for c in changed if (s := stored.get(c.key)) is None or s.hash != c.hash]
        self.result.counts.unchanged += len(candidates) - len(changed)
        if changed:
            self._commit_changes(changed, stored)

    def _merged(
        self, batch: Sequence[_Candidate | Record], stored: dict[str, snapshots.Stored]
    ) -> list[_Candidate]:
        out: list[_Candidate] = []
        for item in batch:
            assert isinstance(item, Record)
            key = canonical.entity_key(self.kind, item.data)
            old = stored.get(key)
            patch = without_unsent(self.kind, item.data)
            base = (
                canonical.denormalise(self.kind, orjson.loads(old.body)) if old and old.body else {}
            )
            merged = merge_records(self.kind, base, patch)
            problem = self._full.problem(merged)
            if problem is not None:
                self._reject(Reject(item.line, problem.field, f"after merging: {problem.reason}"))
                continue
            candidate = self._candidate(item.line, merged)
            if candidate is not None:
                out.append(candidate)
        return out

    def _commit_changes(
        self, changed: list[_Candidate], stored: dict[str, snapshots.Stored]
    ) -> None:
        changes: list[EntityChange] = []
        writes: list[snapshots.SnapshotWrite] = []
        removals: dict[str, int] = {}
        for c in changed:
            old = stored.get(c.key)
            old_body = orjson.loads(old.body) if old is not None and old.body else None
            change = diff_entity(
                self.kind, key=c.key, parent_key=c.parent_key, old=old_body, new=c.body
            )
            changes.append(change)
            if c.body is None:
                assert old is not None
                removals[c.key] = old.version
                self.result.counts.deleted += 1
                continue
            version = old.version if old is not None else 0
            writes.append(
                snapshots.SnapshotWrite(
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
                self.result.counts.inserted += 1
            else:
                self.result.counts.updated += 1
        now = self.clock()
        snapshots.write(
            self.conn,
            self.kind.name,
            writes,
            now=now,
            job_id=self.result.job_id,
            refs_follow_key=self.kind.refs_follow_key,
        )
        snapshots.remove(self.conn, self.kind.name, removals)
        self._notify(changes, now)

    def _notify(self, changes: list[EntityChange], now: datetime) -> None:
        if self.collect:
            self.result.changes.extend(changes)
        if self.decider is None:
            return
        decided = self.decider.decide(self.conn, changes, job_id=self.result.job_id, now=now)
        self.result.counts.notifications += len(decided)
        self.result.counts.deliveries += outbox.record(self.conn, decided, now=now)
        if self.collect:
            self.result.notifications.extend(decided)

    def _sweep(self) -> None:
        """Delete or deactivate the stored entities of the feed's scope that it left out."""
        scopes = self._scopes if self.kind.scope else None
        missing = [
            key
            for key in snapshots.keys_in_scope(self.conn, self.kind.name, scopes)
            if xxhash.xxh3_64_intdigest(key) not in self._seen
        ]
        for start in range(0, len(missing), self.batch_size):
            keys = missing[start : start + self.batch_size]
            self._apply_missing(keys)

    def _apply_missing(self, keys: list[str]) -> None:
        stored = snapshots.fetch(self.conn, self.kind.name, keys, bodies=True)
        gone: list[_Candidate | Record] = []
        for key, entry in stored.items():
            assert entry.body is not None
            body = orjson.loads(entry.body)
            if self.kind.on_missing == "delete":
                parent = canonical.parent_key(self.kind, body)
                gone.append(_Candidate(0, key, parent, "", None))
                continue
            candidate = self._candidate(
                0, canonical.denormalise(self.kind, body) | dict(self.kind.deactivate)
            )
            if candidate is not None:
                gone.append(candidate)
        self._apply_with_retry(gone)


# PostgreSQL's deadlock and serialisation failures: the batch lost a race and is retried.
_RETRYABLE_SQLSTATES = {"40P01", "40001"}


def _is_conflict(exc: Exception) -> bool:
    """True for errors that mean another writer got there first, not for real failures."""
    if isinstance(exc, ConflictError | IntegrityError):
        return True
    return getattr(getattr(exc, "orig", None), "sqlstate", None) in _RETRYABLE_SQLSTATES


def _quick_key(kind: EntityKind, data: dict[str, Any]) -> str | None:
    """The entity key of an unvalidated record, or None when its key fields are not scalars."""
    values = [data.get(name) for name in kind.key]
    if any(v is None or isinstance(v, dict | list) for v in values):
        return None
    return canonical.key_string(values)


def _key_of(kind: EntityKind, item: _Candidate | Record) -> str:
    return item.key if isinstance(item, _Candidate) else canonical.entity_key(kind, item.data)


@contextmanager
def _fewer_collections() -> Iterator[None]:
    """Run the young-generation collector less often while parsing a feed.

    Parsing allocates many short-lived containers; at the default threshold the collector runs
    every 700 of them and costs about a fifth of an ingest's time. Batches are dropped whole,
    so their garbage is freed by reference counting anyway.
    """
    threshold = gc.get_threshold()
    gc.set_threshold(max(threshold[0], 50_000), *threshold[1:])
    try:
        yield
    finally:
        gc.set_threshold(*threshold)


def _batched(items: Iterable[Item], size: int) -> Iterator[list[Item]]:
    batch: list[Item] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
