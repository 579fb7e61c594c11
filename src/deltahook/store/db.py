"""Opening the database: SQLite in WAL mode by default, any SQLAlchemy URL by setting."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Table, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import (
    ArgumentError,
    DatabaseError,
    DBAPIError,
    InterfaceError,
    OperationalError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout

from deltahook.errors import StoreError

SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_CHECKPOINT_PAGES = 16_384
# The page cache of a SQLite connection that writes a load, in KiB (SQLite's default: 2 MiB).
SQLITE_LOAD_CACHE_KIB = 32_768
_LOAD_CACHE = "deltahook.load_cache"  # in a pooled connection's ``info``: widened already
# A job that inserted at least this many snapshots refreshes the planner's statistics.
ANALYZE_AFTER = 10_000
# Seconds a caller waits for a pooled connection before it is told the server is busy.
POOL_TIMEOUT_S = 10


def open_engine(
    url: str,
    *,
    check_schema: bool = True,
    pool_size: int | None = None,
    pool_timeout_s: float = POOL_TIMEOUT_S,
) -> Engine:
    """An engine for ``url``; with ``check_schema``, its schema created or found current.

    ``pool_size`` connections are kept (SQLAlchemy's default otherwise), as many more opened at
    a peak; a caller that waits ``pool_timeout_s`` for one gets ``sqlalchemy.exc.TimeoutError``.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreError(f"invalid database URL {_without_password(url)}: {exc}") from exc
    except ValueError as exc:  # SQLAlchemy reads the port with int()
        reason = "the port must be a number (an IPv6 address in [brackets])"
        raise StoreError(f"invalid database URL {_without_password(url)}: {reason}") from exc
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    shown = parsed.render_as_string(hide_password=True)  # what an error may print
    pool = _pool(parsed.database, pool_size, pool_timeout_s)
    try:
        if parsed.get_backend_name() == "sqlite":
            engine = _sqlite_engine(parsed.render_as_string(hide_password=False), pool)
        else:
            # No server-side prepared statements: PostgreSQL would keep the generic plan it made
            # while the tables were small (a sequential scan) for the whole of a large first load.
            engine = create_engine(
                parsed, pool_pre_ping=True, connect_args={"prepare_threshold": None}, **pool
            )
    except (ArgumentError, ImportError) as exc:  # an unknown dialect, a driver not installed
        raise StoreError(f"cannot use the database URL {shown}: {exc}") from exc
    except OSError as exc:  # the SQLite file's folder cannot be made
        raise StoreError(f"cannot open the database at {shown}: {exc}") from exc
    if check_schema:
        from deltahook.store.schema import ensure_current

        try:
            ensure_current(engine)
        except DatabaseError as exc:  # cannot connect, not a database file, read-only and empty
            engine.dispose()
            if (unwritable := cannot_write(exc)) is not None:
                raise StoreError(f"cannot make the schema at {shown}: {unwritable}") from exc
            reason = " ".join(str(exc.orig).split())  # psycopg's hint is a line of its own
            raise StoreError(f"cannot open the database at {shown}: {reason}") from exc
        except BaseException:
            engine.dispose()
            raise
    return engine


UNWRITABLE = {
    "attempt to write a readonly database": (
        "open it read-write (not mode=ro or immutable) and make its file and folder writable"
    ),
    "database or disk is full": "free space on its disk",
}
"""SQLite's words for a store it cannot write, and what to do: the file or its folder is
read-only, or it was opened read-only; or the disk (or the file's page limit) is full."""


def cannot_write(exc: BaseException) -> str | None:
    """The one line that tells of ``exc`` when it says the (SQLite) store cannot be written:
    "the database cannot be written (SQLite's reason): what to do", as the CLI and the API both
    say it; None for any other error."""
    orig = exc.orig if isinstance(exc, DBAPIError) else None
    if orig is None or (advice := UNWRITABLE.get(reason := str(orig))) is None:
        return None
    return f"the database cannot be written ({reason}): {advice}"


def ensure_writable(engine: Engine, *, why: str) -> None:
    """A ``StoreError`` (one line: ``cannot_write``'s, then ``why``) when the store cannot be
    written, found by a write that is rolled back: it changes nothing."""
    try:
        with engine.connect() as conn, conn.begin() as transaction:
            conn.exec_driver_sql("UPDATE alembic_version SET version_num = version_num")
            transaction.rollback()
    except DBAPIError as exc:
        if (unwritable := cannot_write(exc)) is None:
            raise
        raise StoreError(f"{unwritable}; {why}") from exc


def unavailable_reason(exc: BaseException) -> str | None:
    """Why the database cannot be used now, when ``exc`` says it cannot (the server stopped or
    out of reach, the connection dropped, SQLite's file cannot be opened or read or stayed
    locked, no pooled connection came free): the driver's reason on one line. None for any
    other error (a constraint, a bug), which waiting would not cure."""
    if isinstance(exc, PoolTimeout):
        return "no pooled database connection came free in time"
    if not isinstance(exc, DBAPIError):
        return None
    if not (exc.connection_invalidated or isinstance(exc, OperationalError | InterfaceError)):
        return None
    return " ".join(str(exc.orig).split()) or type(exc.orig).__name__


def _without_password(url: str) -> str:
    """``url`` with what stands between ``user:`` and ``@`` blanked out, as SQLAlchemy renders a
    URL it could parse; for one it could not."""
    return re.sub(r"^([^/@]*//)?([^:/@]*):[^@]*@", r"\1\2:***@", url)


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """A connection for reads only: what it writes is never committed, and on SQLite its
    transaction starts as a plain (deferred) ``BEGIN``, which in WAL mode reads the last commit
    without waiting for a writer. Every other transaction takes the write lock up front (see
    ``_sqlite_engine``), so a console page or API read made while an ingest wrote its batches
    waited for each of them: p90 2.2 s, at most 3.6 s, during a first load of 20k SKUs."""
    with engine.connect() as conn:
        conn.execution_options(**{_READS_ONLY: True})
        yield conn


_READS_ONLY = "deltahook_reads_only"  # an execution option of ``reading``'s connections


def refresh_statistics(conn: Connection, *tables: Table) -> None:
    """On PostgreSQL, ``ANALYZE`` ``tables`` now rather than whenever autovacuum comes round.

    Until then a table a first load filled has no statistics, and the planner reads a batch's
    keys by scanning every row of the kind instead of the primary key: the first 1%-changed
    ingest of 100k SKUs after the load took 9.1 s, against 4.6 s once analysed.
    """
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"ANALYZE {', '.join(table.name for table in tables)}")


def widen_cache(conn: Connection) -> None:
    """Let ``conn`` (SQLite) cache ``SQLITE_LOAD_CACHE_KIB`` of pages from now on, for a load.

    A first load inserts each entity's line hash into an index at a random place; once that
    index outgrows the 2 MiB default cache (about 45k entities), most inserts read a page back
    and write another out mid-transaction. A baseline load of 1M SKUs (with 0018): its inserts
    16.5 -> 10.0 s of CPU, the load 78 -> 72 s of CPU (sys 17 -> 10 s), peak 125 -> 160 MB
    (64 MiB gained nothing more and peaked at 194 MB). The cache grows only as pages are read
    or written; the pooled connection keeps it.
    """
    if conn.dialect.name != "sqlite" or conn.connection.info.get(_LOAD_CACHE):
        return
    conn.exec_driver_sql(f"PRAGMA cache_size = -{SQLITE_LOAD_CACHE_KIB}")
    conn.connection.info[_LOAD_CACHE] = True


def _pool(database: str | None, size: int | None, timeout_s: float) -> dict[str, Any]:
    """Pool arguments for ``size`` connections (none for an in-memory database's own pool)."""
    if size is None or not database or database == ":memory:":
        return {}
    return {"pool_size": size, "max_overflow": size, "pool_timeout": timeout_s}


def _sqlite_engine(url: str, pool: dict[str, Any]) -> Engine:
    database = make_url(url).database
    # A URI (``file:...``, opened read-only say) is SQLite's to open: no folder is made for it.
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, **pool)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transactions into our own hands: pysqlite's implicit BEGIN is deferred, and a
        # deferred transaction that later writes can fail with "database is locked".
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # Checkpoint the WAL every ~64 MB rather than every 4 MB: at the default, checkpoints
        # were a third of a 1%-changed ingest's time.
        cursor.execute(f"PRAGMA wal_autocheckpoint={SQLITE_CHECKPOINT_PAGES}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        reads_only = connection.get_execution_options().get(_READS_ONLY)
        connection.exec_driver_sql("BEGIN" if reads_only else "BEGIN IMMEDIATE")

    return engine
