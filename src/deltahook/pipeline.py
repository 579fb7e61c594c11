"""Ingest and preview: the one path from a feed to stored snapshots and notifications.

Per read batch of records: admit them (find whole lines identical to stored ones by their hash;
validate, key, normalise and hash the rest; see ``admission``); a full NDJSON feed on SQLite
finds the identical lines in a ``LineIndex`` of the kind's stored line hashes read once (while
nobody else writes the kind), other runs ask the store per batch. What is left (changed or new)
waits in a write batch that spans read batches (``writebatch``). Per write batch: fetch the
stored hashes and bodies of its keys in one query; diff only the entities whose hash changed;
decide notifications; write snapshots, notifications and the job's checkpoint in one
transaction, retried whole when a concurrent ingest got there first. A full feed ends with a
sweep of what it left out. Preview runs exactly this code inside one transaction rolled back at
the end.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from copy import copy
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Protocol, runtime_checkable

from sqlalchemy import Connection
from sqlalchemy import Engine as SqlEngine

from deltahook.admission import Admission, Ident
from deltahook.candidates import Candidate
from deltahook.catalog.entities import EntityKind
from deltahook.feeds.limits import DEFAULT_MAX_REMOVE, RemovalLimit
from deltahook.feeds.readers import Item, Line, LineBatch, LineStream, Record
from deltahook.gcpolicy import collected_between_batches, fewer_collections
from deltahook.indexing import RunIndex
from deltahook.results import Counts, Mode, RunResult
from deltahook.store import snapshots
from deltahook.sweep import Sweep
from deltahook.writebatch import WriteBatch
from deltahook.writing import Checkpoint, Decider, Writer

_ReadBatch = list[Item | Line] | LineBatch


@runtime_checkable
class Idles(Protocol):
    """A feed source that can tell the run it is about to wait for more (a streamed upload)."""

    def when_idle(self, idle: Callable[[], None]) -> None: ...


@dataclass(kw_only=True)
class Run:
    """One pass of a feed through the pipeline, over one database connection.

    With a ``pool``, each batch (and the sweep) takes a connection of its own and gives it
    back: a run waiting for its feed's next records (an upload stalled mid-body) holds none.
    """

    conn: Connection
    kind: EntityKind
    mode: Mode
    decider: Decider | None
    clock: Callable[[], datetime]
    result: RunResult
    batch_size: int
    commit: bool
    collect: bool
    max_remove: RemovalLimit = field(default_factory=lambda: RemovalLimit.parse(DEFAULT_MAX_REMOVE))
    checkpoint: Checkpoint | None = None
    pool: SqlEngine | None = None
    baseline: bool = False  # store snapshots and rule state; decide and queue nothing
    change_log: bool = True  # log the stored row changes (not a baseline's)
    # Called with each committed batch's tally; its changes and notifications are then dropped.
    on_batch: Callable[[RunResult], None] | None = None
    write_batch: int | None = None  # changes written per commit (default: ``batch_size``)

    def __post_init__(self) -> None:
        if self.commit and self.checkpoint is None:
            # Each committed batch moves its job's row: how other runs' line indexes learn,
            # on PostgreSQL, that the kind changed under them (store/freshness.py).
            raise ValueError("a run that commits needs its job's checkpoint")
        self._admission = Admission(self.kind, self.mode, self.result)
        self._lines = RunIndex(
            kind=self.kind,
            mode=self.mode,
            admission=self._admission,
            result=self.result,
            batch_size=self.batch_size,
        )
        # Changed and new records of several read batches, written and committed together.
        self._pending = WriteBatch(max_changes=self.write_batch or self.batch_size)
        self._between_batches = False  # while the feed's next batch is being read
        # Whether a failure lost changes of lines the run counted (a write batch being
        # written, or waiting): the job's counts are then its last checkpoint's.
        self.lost_changes = False
        self._writer = Writer(
            kind=self.kind,
            mode=self.mode,
            admission=self._admission,
            decider=self.decider,
            clock=self.clock,
            result=self.result,
            commit=self.commit,
            collect=self.collect,
            checkpoint=self.checkpoint,
            baseline=self.baseline,
            change_log=self.change_log,
            on_batch=self.on_batch,
        )
        self._admission.bodies = self._writer.reads_bodies

    def feed(
        self,
        items: Iterable[Item | Line] | LineStream,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        """Apply every record of the feed, batch by batch; then sweep if the feed is full."""
        try:
            self._feed(items, progress)
        except BaseException:
            self.lost_changes = self.lost_changes or bool(self._pending)
            raise

    def _feed(
        self,
        items: Iterable[Item | Line] | LineStream,
        progress: Callable[[int], None] | None,
    ) -> None:
        with fewer_collections():
            with collected_between_batches() as collect:
                for batch in self._reading(_batched(items, self.batch_size)):
                    with self._connection():
                        self._batch(batch)
                    collect()
                    if progress is not None:
                        progress(len(batch))
            self._flush_waiting()
            if self.mode == "full":
                with self._connection():
                    self._sweep()

    def idle(self) -> None:
        """Write and commit the records waiting in the write batch, if any, while the run waits
        for more of its feed: a stream calls this before it blocks (anywhere else in the run,
        it does nothing)."""
        if self._between_batches:
            self._flush_waiting()

    def _flush_waiting(self) -> None:
        """Write and commit the write batch in a step of its own (if it holds anything)."""
        if not self._pending:
            return
        with self._connection():
            self._lines.for_sweep(self.conn)  # first thing in the transaction, as every step
            self._flush(self.result.counts)

    def _reading(self, batches: Iterator[_ReadBatch]) -> Iterator[_ReadBatch]:
        """``batches``, with ``_between_batches`` set while the next one is being read.

        A feed that fails to be read (an upload cut short) still has what came before applied,
        as when each read batch was written on its own; a full feed is not swept then.
        """
        while True:
            self._between_batches = True
            try:
                batch = next(batches, None)
            except Exception:
                self._flush_waiting()
                raise
            finally:
                self._between_batches = False
            if batch is None:
                return
            yield batch

    @contextmanager
    def _connection(self) -> Iterator[None]:
        """A connection from the pool for one step (closed after it: rolled back on failure)."""
        if self.pool is None:
            yield
            return
        with self.pool.connect() as conn:
            self.conn = conn
            yield

    def _batch(self, items: _ReadBatch) -> None:
        if self._pending and self._lines.undecided:
            self._flush(self.result.counts)  # an index read now sees what waited as stored
        index = self._lines.current(self.conn) if isinstance(items, LineBatch) else None
        claim = copy(self.result.counts)  # what the lines before this batch make the job's
        if index is not None:
            assert isinstance(items, LineBatch)
            key_at, locate = partial(index.key, self.conn), partial(index.locate, self.conn)
            batch = self._admission.lines(items, index, key_at, locate)
            # Their stored lines are about to be another: a copy of one later in the feed is
            # compared with the store, not taken for unchanged (whether or not they change).
            if batch.indexed:  # none in a first load: every key is new
                keys = [c.key for c in batch.ready.values() if isinstance(c, Candidate)]
                self._lines.rewritten(index, keys, batch.indexed)
        else:
            lines = items.lines() if isinstance(items, LineBatch) else items
            batch = self._admission.batch(lines, self._known_lines)
        ready = _by_key(batch.ready)
        if self._pending.repeats(ready):
            self._flush(claim)  # the earlier copy first, as if it had been written with its batch
        now = self.clock()
        self._pending.add(ready, now)
        due = self.checkpoint is not None and self.checkpoint.due()
        if self._pending.full(now) or (due and self._pending):
            self._flush(self.result.counts)
        elif due:
            assert self.checkpoint is not None
            self.checkpoint.write(self.conn, self.result.counts)
            self.conn.commit()

    def _known_lines(self, line_hashes: Sequence[bytes]) -> dict[bytes, tuple[str, str]]:
        """The stored entities made from these lines, but those the write batch will rewrite:
        a line identical to one of those is a change over the waiting record, not unchanged."""
        found = snapshots.known_lines(self.conn, self.kind.name, line_hashes)
        if not self._pending:
            return found
        return {line: hit for line, hit in found.items() if hit[0] not in self._pending}

    def _flush(self, claim: Counts) -> None:
        """Write and commit the write batch; the job's checkpoint then claims ``claim`` (the
        counts of the lines read so far, whose changes this batch holds) and what it applied."""
        try:
            self._writer.apply(self.conn, self._pending.take(), claim)
        except BaseException:
            self.lost_changes = True
            raise

    def _sweep(self) -> None:
        index = self._lines.for_sweep(self.conn)
        sweep = Sweep(
            conn=self.conn,
            kind=self.kind,
            admission=self._admission,
            result=self.result,
            limit=self.max_remove,
            batch_size=self.batch_size,
            commit=self.commit,
            apply=lambda batch: self._writer.apply(self.conn, batch),
            index=index,
        )
        sweep.run()


def _by_key(ready: Mapping[Ident, Candidate | Record]) -> dict[str, Candidate | Record]:
    """A batch's admitted records by entity key: a candidate carries its key; a merge record
    is admitted under its key (a merge feed is never admitted against a line index)."""
    found: dict[str, Candidate | Record] = {}
    for ident, item in ready.items():
        if isinstance(item, Candidate):
            found[item.key] = item
        else:
            assert isinstance(ident, str)
            found[ident] = item
    return found


def _batched(items: Iterable[Item | Line] | LineStream, size: int) -> Iterator[_ReadBatch]:
    if isinstance(items, LineStream):
        yield from items.batches(size)
        return
    batch: list[Item | Line] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
