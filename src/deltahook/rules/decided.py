"""What one job has notified so far: each new notification's id, and the groups notified before.

A job notifies each type and distinct payload once (``grouping``), yet a group can be decided
again by a later batch: a SKU's price rows in two batches, a SKU reached by two fan-outs, a key
repeated further down the feed. Ids used to be a hash of the group, found again in the store;
they are now given in order (``notifications.JobIds``) so that a job's rows are appended to
their indexes, and the groups notified are kept here instead, as 16-byte BLAKE2b digests of
type and identity.

They are kept in a set (~0.2 us a look-up, ~90 bytes a digest) until a job has decided
``IN_MEMORY`` of them, then in a private temporary SQLite database (on disk, deleted when
closed; ~7 us a digest, at most ``_CACHE_KIB`` held in memory): a first load of a million SKUs
decides five million notifications, some 450 MB as a set. The set moves as soon as it is
past ``IN_MEMORY``, in the middle of a batch if need be (a fan-out reaching many SKUs). Either
way what a batch decided is forgotten, its ids included, when the batch is rolled back to be
retried (``end_batch``).
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Sequence

from deltahook.notifications import JobIds
from deltahook.store.lookups import chunks

IN_MEMORY = 600_000  # digests kept in a set (about 55 MB); past that, in the temporary database
_CHUNK = 500  # digests looked up per statement
_CACHE_KIB = 16_384  # the temporary database's page cache (SQLite's default is 2 MiB)


class Decided:
    """The groups one job notified, and the ids it gave, batch by batch."""

    def __init__(self, job_id: str, *, in_memory: int = IN_MEMORY) -> None:
        self.job_id = job_id
        self._ids = JobIds(job_id)
        self._kept = 0  # the id count at the end of the last batch kept
        self._in_memory = in_memory
        self._seen: set[bytes] = set()  # while ``_db`` is None
        self._batch: list[bytes] = []  # added to ``_seen`` by the batch not yet kept
        self._db: sqlite3.Connection | None = None

    def fresh(self, groups: Sequence[tuple[str, bytes]]) -> list[str | None]:
        """For each (type, identity) group in order, a new id, or None when the job decided it
        before (in an earlier batch, or earlier in this one)."""
        digests = [_digest(kind, identity) for kind, identity in groups]
        if self._db is None:
            known = self._seen.intersection(digests)
            new = [d for d in digests if d not in known]
            self._seen.update(new)
            self._batch.extend(new)
            if len(self._seen) > self._in_memory:
                self._spill()
        else:
            known = self._stored(self._db, digests)
        return [None if d in known else self._ids.take() for d in digests]

    def end_batch(self, *, kept: bool) -> None:
        """Keep what the batch decided (its writes committed, or a preview went on), or forget
        it (the batch was rolled back, to be retried)."""
        if self._db is not None:
            if self._db.in_transaction:
                (self._db.commit if kept else self._db.rollback)()
        elif not kept:
            self._seen.difference_update(self._batch)
        self._batch.clear()
        if kept:
            self._kept = self._ids.next
        else:
            self._ids.next = self._kept

    def close(self) -> None:
        """Close (and so delete) the temporary database, if one was made."""
        self._seen.clear()
        if self._db is not None:
            self._db.close()
            self._db = None

    def _stored(self, db: sqlite3.Connection, digests: list[bytes]) -> set[bytes]:
        """Those of ``digests`` stored before; the others stored, in the batch's transaction."""
        if not db.in_transaction:
            db.execute("BEGIN")
        known: set[bytes] = set()
        for chunk in chunks(digests, _CHUNK):
            marks = ",".join("?" * len(chunk))
            query = f"SELECT digest FROM decided WHERE digest IN ({marks})"
            known.update(row[0] for row in db.execute(query, chunk))
        new = sorted({(d,) for d in digests if d not in known})  # in key order: fewer pages
        db.executemany("INSERT INTO decided VALUES (?)", new)
        return known

    def _spill(self) -> None:
        # "": a private temporary database; the pipeline may hand batches to another thread.
        db = sqlite3.connect("", isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode = MEMORY")  # rolled back by batch, never recovered
        db.execute("PRAGMA synchronous = OFF")
        db.execute(f"PRAGMA cache_size = -{_CACHE_KIB}")
        db.execute("CREATE TABLE decided (digest BLOB PRIMARY KEY) WITHOUT ROWID")
        batch = set(self._batch)
        db.execute("BEGIN")
        kept = ((d,) for d in self._seen if d not in batch)  # no second copy of the set
        db.executemany("INSERT INTO decided VALUES (?)", kept)
        db.commit()
        db.execute("BEGIN")  # the batch's own, kept or forgotten with it (``end_batch``)
        db.executemany("INSERT INTO decided VALUES (?)", sorted((d,) for d in batch))
        self._seen, self._batch = set(), []
        self._db = db


def _digest(kind: str, identity: bytes) -> bytes:
    return hashlib.blake2b(kind.encode() + b"\x1f" + identity, digest_size=16).digest()
