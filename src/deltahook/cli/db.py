"""``deltahook db upgrade``: bring the database schema up to date."""

from __future__ import annotations

import click

from deltahook.bootstrap import open_store
from deltahook.cli.app import State, friendly, main, out
from deltahook.store import schema


@main.group()
def db() -> None:
    """Database schema commands."""


@db.command()
@click.pass_obj
@friendly
def upgrade(state: State) -> None:
    """Apply every pending migration."""
    engine = open_store(state.settings, check_schema=False, sync_subscriptions=False)
    try:
        before, after = schema.upgrade(engine)
    finally:
        engine.dispose()
    if before == after:
        out.print(f"database already at revision {after}")
    else:
        out.print(f"database upgraded from {before or 'empty'} to {after}")
