"""The database schema's version: Alembic migrations, checked before any work is done.

A new, empty database is brought to the current schema at once (that is creation, not
migration); a database at an older revision is refused until ``deltahook db upgrade`` runs, and
one at a revision these migrations do not know (a newer deltahook made it) is refused outright.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, inspect, text

from deltahook.errors import SchemaAheadError, SchemaBehindError
from deltahook.store.db import reading

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")
_REVISION = re.compile(r"^revision\b[^=]*=(.*)$", re.M)
_DOWN_REVISION = re.compile(r"^down_revision\b[^=]*=(.*)$", re.M)
_QUOTED = re.compile(r"""["']([^"']+)["']""")
_MIGRATING = 0x646C7461686B  # an advisory lock's key: one process migrates a PostgreSQL database


def _config(conn: Connection | None = None) -> Config:
    from alembic.config import Config  # Alembic only to migrate: opening a store reads the table

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if conn is not None:
        config.attributes["connection"] = conn
    return config


def head() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_config()).get_current_head()


def _revisions() -> tuple[set[str], set[str]]:
    """Every revision the migration files declare, and every one they name as a parent."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        source = path.read_text(encoding="utf-8")
        for line in _REVISION.findall(source):
            revisions.update(_QUOTED.findall(line))
        for line in _DOWN_REVISION.findall(source):
            parents.update(_QUOTED.findall(line))
    return revisions, parents


def newest() -> str | None:
    """The head revision, read from the migration files' ``revision`` lines (no Alembic)."""
    revisions, parents = _revisions()
    heads = sorted(revisions - parents)
    return heads[0] if len(heads) == 1 else head()  # several heads: as Alembic says


def _refuse_unknown(revision: str | None) -> None:
    """A revision no migration file declares was written by a newer deltahook: neither
    running on it nor migrating it can be right."""
    if revision is not None and revision not in _revisions()[0]:
        raise SchemaAheadError(
            f"the database schema is at revision {revision}, which this deltahook does not "
            "know: a newer deltahook made it; run that version (or a later one)"
        )


def current(conn: Connection) -> str | None:
    """The revision stored in ``alembic_version`` (None before the first migration)."""
    if not inspect(conn).has_table("alembic_version"):
        return None
    revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    return None if revision is None else str(revision)


def upgrade(engine: Engine) -> tuple[str | None, str | None]:
    """Bring the database to the newest schema; returns (revision before, revision after)."""
    from alembic import command

    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":  # processes started at once on an empty database
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATING})
        before = current(conn)
        _refuse_unknown(before)
        command.upgrade(_config(conn), "head")
        return before, current(conn)


def ensure_current(engine: Engine) -> None:
    """Create the schema in an empty database; refuse one that is behind."""
    with reading(engine) as conn:
        revision = current(conn)
        empty = revision is None and not inspect(conn).get_table_names()
    if empty:
        upgrade(engine)
        return
    if revision != (newest_revision := newest()):
        _refuse_unknown(revision)  # only then: the migration files are read once at start
        raise SchemaBehindError(
            f"the database schema is at revision {revision or 'none'} but this deltahook needs "
            f"{newest_revision}: run `deltahook db upgrade`"
        )
