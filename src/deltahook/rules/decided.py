"""What one job has notified so far: each new notification's id, and the groups notified before.

A job notifies each type and distinct payload once (``grouping``), yet a group can be decided
again by a later batch: a SKU's price rows in two batches, a SKU reached by two fan-outs. Ids
used to be a hash of the group, found again in the store; they are now given in order
(``notifications.JobIds``) so that a job's rows are appended to their indexes, and the groups
notified are kept here instead, as 16-byte BLAKE2b digests of type and identity.

They are kept in a private temporary SQLite database (on disk, deleted when closed), not in a
Python set: a first load of a million SKUs decides five million notifications, about 500 MB as
a set, some 100 MB of pages here of which the process holds its small page cache. Its
transactions follow the batches': a batch retried after a conflict, or rolled back, forgets
what it decided (``end_batch``), ids included.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Sequence

from deltahook.notifications import JobIds
from deltahook.store.lookups import chunks

_CHUNK = 500  # digests looked up per statement


class Decided:
    """The groups one job notified, and the ids it gave, batch by batch."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        self._ids = JobIds(job_id)
        self._kept = 0  # the id count at the end of the last batch kept
        self._db: sqlite3.Connection | None = None

    def fresh(self, groups: Sequence[tuple[str, bytes]]) -> list[str | None]:
        """For each (type, identity) group in order, a new id, or None when the job decided it
        before (in an earlier batch, or earlier in this one)."""
        if not groups:
            return []
        digests = [_digest(kind, identity) for kind, identity in groups]
        db = self._open()
        if not db.in_transaction:
            db.execute("BEGIN")
        known = _known(db, digests)
        new = [d for d in digests if d not in known]
        db.executemany("INSERT OR IGNORE INTO decided VALUES (?)", [(d,) for d in new])
        return [None if d in known else self._ids.take() for d in digests]

    def end_batch(self, *, kept: bool) -> None:
        """Keep what the batch decided (its writes committed, or a preview went on), or forget
        it (the batch was rolled back, to be retried)."""
        if self._db is not None and self._db.in_transaction:
            if kept:
                self._db.commit()
            else:
                self._db.rollback()
        if kept:
            self._kept = self._ids.next
        else:
            self._ids.next = self._kept

    def close(self) -> None:
        """Close (and so delete) the temporary database."""
        if self._db is not None:
            self._db.close()
            self._db = None

    def _open(self) -> sqlite3.Connection:
        if self._db is None:
            # "": a private temporary database; the pipeline may hand batches to another thread.
            db = sqlite3.connect("", isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode = MEMORY")  # rolled back by batch, never recovered
            db.execute("PRAGMA synchronous = OFF")
            db.execute("CREATE TABLE decided (digest BLOB PRIMARY KEY) WITHOUT ROWID")
            self._db = db
        return self._db


def _digest(kind: str, identity: bytes) -> bytes:
    return hashlib.blake2b(kind.encode() + b"\x1f" + identity, digest_size=16).digest()


def _known(db: sqlite3.Connection, digests: list[bytes]) -> set[bytes]:
    found: set[bytes] = set()
    for chunk in chunks(digests, _CHUNK):
        marks = ",".join("?" * len(chunk))
        query = f"SELECT digest FROM decided WHERE digest IN ({marks})"
        found.update(row[0] for row in db.execute(query, chunk))
    return found
