"""Opening the store: the one place the configured database is opened.

``Engine.from_settings``, the CLI's commands and the rule-usage report all come through
``open_store``; scratch databases (previews, rule tests) open their own with
``store.db.open_engine``.
"""

from __future__ import annotations

from sqlalchemy import Engine as SqlEngine
from sqlalchemy.exc import IntegrityError

from deltahook.clock import Clock, utc_now
from deltahook.config import Settings
from deltahook.delivery import subscriptions
from deltahook.store.db import open_engine, reading


def open_store(
    settings: Settings,
    *,
    clock: Clock = utc_now,
    check_schema: bool = True,
    sync_subscriptions: bool = True,
    pool_size: int | None = None,
) -> SqlEngine:
    """The configured database; its schema created or found current (``check_schema``), and
    the config file's subscriptions synced into it (``sync_subscriptions``).

    ``check_schema=False`` is for commands that must work on an old schema (``db upgrade``)
    or only read (the rule-usage report); those skip the sync too. ``pool_size``: the
    connections a server keeps (the default suits one command).
    """
    db = open_engine(settings.database_url, check_schema=check_schema, pool_size=pool_size)
    if not sync_subscriptions:
        return db
    try:
        # Asked first without the write lock: a command run while an ingest writes its batches
        # then waits for none of them, unless the config file's subscriptions changed.
        with reading(db) as conn:
            current = subscriptions.in_sync(conn, settings.subscriptions)
        if not current:
            _sync(db, settings, clock)
    except BaseException:
        db.dispose()
        raise
    return db


def _sync(db: SqlEngine, settings: Settings, clock: Clock) -> None:
    """Write the config file's subscriptions. On PostgreSQL two processes started together (a
    server and a dispatcher) may both find a new subscription missing and both insert it: the
    second insert waits for the first to commit and then fails; synced again, it finds the
    subscription stored (SQLite's writers take turns, so there it cannot happen)."""
    try:
        with db.begin() as conn:
            subscriptions.sync(conn, settings.subscriptions, now=clock())
    except IntegrityError:
        with db.begin() as conn:
            subscriptions.sync(conn, settings.subscriptions, now=clock())
