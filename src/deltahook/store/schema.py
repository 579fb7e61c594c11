"""The database schema's version: Alembic migrations, checked before any work is done.

A new, empty database is brought to the current schema at once (that is creation, not
migration); a database at an older revision is refused until ``deltahook db upgrade`` runs.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect

from deltahook.errors import SchemaBehindError

MIGRATIONS = Path(__file__).with_name("migrations")


def _config(conn: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if conn is not None:
        config.attributes["connection"] = conn
    return config


def head() -> str | None:
    return ScriptDirectory.from_config(_config()).get_current_head()


def current(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine) -> tuple[str | None, str | None]:
    """Bring the database to the newest schema; returns (revision before, revision after)."""
    with engine.begin() as conn:
        before = current(conn)
        command.upgrade(_config(conn), "head")
        return before, current(conn)


def ensure_current(engine: Engine) -> None:
    """Create the schema in an empty database; refuse one that is behind."""
    with engine.connect() as conn:
        revision = current(conn)
        empty = revision is None and not inspect(conn).get_table_names()
    if empty:
        upgrade(engine)
        return
    newest = head()
    if revision != newest:
        raise SchemaBehindError(
            f"the database schema is at revision {revision or 'none'} but this deltahook needs "
            f"{newest}: run `deltahook db upgrade`"
        )
