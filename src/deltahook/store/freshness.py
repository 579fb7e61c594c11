"""Whether a run's ``LineIndex`` is still exact: nobody but the run wrote the kind since its scan.

The index is exact only while nobody else writes the kind: SQLite's ``PRAGMA data_version``
(read inside each batch's transaction, which holds the write lock) tells whether another
connection committed since the scan, and a count of the checkouts of each pooled connection
whether someone else had the run's own connection in between (its commits do not move that
connection's data_version); ``fresh`` answers False then, and the run goes back to asking the
store per batch. On PostgreSQL, where writers do not take turns, every transaction that writes
entities is an ingest's batch, which also updates its job's row (its lease and counts; see
``pipeline.Run``), and every ingest records its job before its first batch: a fingerprint of
the ``(id, xmin)`` of the kind's other jobs, read before the scan, changes as soon as another
ingest of the kind commits a batch after it (or starts, or is marked abandoned). Checked first
thing in each batch, it leaves the index the window a query per batch has under READ COMMITTED
(a commit between the query and the batch's own), no more.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, event

_OTHER_JOBS = (
    "SELECT count(*), coalesce(sum(hashtextextended(id || ':' || xmin::text, 0)), 0) "
    "FROM ingest_jobs WHERE kind = %s AND id <> %s"
)
_CHECKOUTS = "deltahook.checkouts"  # in each pooled connection's ``info``


class Freshness:
    """What the store was as of a ``LineIndex``'s scan, to tell whether it moved on since (see
    the module). One that was never stamped is never fresh."""

    def __init__(self, kind: str, *, job_id: str = "") -> None:
        self.kind = kind
        self._owner: Any = None
        self._version: Any = None
        self._checkouts = 0
        self._job_id = job_id

    @classmethod
    def before_scan(cls, conn: Connection, kind: str, *, job_id: str) -> Freshness:
        """Stamp what can be stamped before the scan, in its transaction (PostgreSQL's)."""
        freshness = cls(kind, job_id=job_id)
        # before the scan: a batch committed in between only makes it stale
        if conn.dialect.name == "postgresql":
            freshness._version = _other_jobs(conn, kind, job_id)
        return freshness

    def after_scan(self, conn: Connection) -> None:
        """Stamp what is stamped after the scan, in its transaction (SQLite's)."""
        if conn.dialect.name == "postgresql":
            return
        pool = conn.engine.pool
        if not event.contains(pool, "checkout", _count_checkout):
            event.listen(pool, "checkout", _count_checkout)
        self._owner = conn.connection.dbapi_connection
        self._version = _data_version(conn)
        self._checkouts = conn.connection.info.get(_CHECKOUTS, 0)

    def fresh(self, conn: Connection) -> bool:
        """Whether nobody but this run wrote to the store since the scan (call it first thing in
        a transaction: SQLite's BEGIN IMMEDIATE has the write lock, nobody can commit after;
        on PostgreSQL, whether no other ingest of the kind committed since, see the module)."""
        if conn.dialect.name == "postgresql":
            return bool(_other_jobs(conn, self.kind, self._job_id) == self._version)
        if conn.connection.dbapi_connection is not self._owner:
            return False  # another pooled connection: its data_version tells nothing
        checkouts = conn.connection.info.get(_CHECKOUTS, 0)
        if checkouts - self._checkouts > 1:  # the run's own checkout for this step, and more
            return False
        self._checkouts = checkouts
        return bool(_data_version(conn) == self._version)


def _other_jobs(conn: Connection, kind: str, job_id: str) -> tuple[Any, ...]:
    """How many other jobs of ``kind`` there are and a hash of which row version each is."""
    return tuple(conn.exec_driver_sql(_OTHER_JOBS, (kind, job_id)).one())


def _data_version(conn: Connection) -> Any:
    """SQLite's count of the commits other connections made to the file (PRAGMA data_version)."""
    return conn.exec_driver_sql("PRAGMA data_version").scalar()


def _count_checkout(_dbapi: Any, record: Any, _proxy: Any) -> None:
    record.info[_CHECKOUTS] = record.info.get(_CHECKOUTS, 0) + 1
