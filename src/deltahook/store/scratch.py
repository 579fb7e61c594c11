"""Empty SQLite stores at the current schema, for the scratch databases of previews and rule
tests: made by the migrations once, then copied.

Running the migrations on a new file costs about 0.2 s of CPU (importing Alembic, then every
revision), more than the rest of a ``preview --before/--after``; a copy of the file they made
costs a few milliseconds. The file is kept in the disk cache (``deltahook.diskcache``), named
by everything that shapes it: the migration scripts and the table definitions they import, and
the versions of SQLite, SQLAlchemy and Alembic. Without a cache, the migrations run each time.
"""

from __future__ import annotations

import sqlite3
from importlib import metadata
from pathlib import Path

import sqlalchemy

from deltahook import diskcache
from deltahook.store import schema
from deltahook.store.db import open_engine

_SHAPERS = (schema.MIGRATIONS / "env.py", Path(__file__).with_name("tables.py"))


def make_empty(path: Path) -> None:
    """Write a new, empty store at the current schema to ``path`` (which must not exist)."""
    kept = diskcache.entry("stores", _parts(), ".db")
    body = diskcache.read(kept) if kept is not None else None
    if body is not None:
        path.write_bytes(body)
        return
    open_engine(f"sqlite:///{path}").dispose()  # the last connection folds the WAL in
    if kept is not None:
        diskcache.write(kept, path.read_bytes())


def _parts() -> list[bytes]:
    scripts = sorted((schema.MIGRATIONS / "versions").glob("*.py"))
    versions = (sqlite3.sqlite_version, sqlalchemy.__version__, metadata.version("alembic"))
    parts = [" ".join(versions).encode()]
    for each in (*_SHAPERS, *scripts):
        parts += (each.name.encode(), each.read_bytes())
    return parts
