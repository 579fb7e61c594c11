"""``deltahook db upgrade``: bring the database schema up to date."""

from __future__ import annotations

import click

from deltahook.cli.app import State, friendly, main, out
from deltahook.store import schema
from deltahook.store.db import open_engine


@main.group()
def db() -> None:
    """Database schema commands."""


@db.command()
@click.pass_obj
@friendly
def upgrade(state: State) -> None:
    """Apply every pending migration."""
    engine = open_engine(state.settings.database_url, check_schema=False)
    try:
        before, after = schema.upgrade(engine)
    finally:
        engine.dispose()
    if before == after:
        out.print(f"database already at revision {after}")
    else:
        out.print(f"database upgraded from {before or 'empty'} to {after}")
