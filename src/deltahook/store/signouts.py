"""Console sessions ended by signing out, kept until they would have expired anyway.

A session cookie is signed, not stored, so every server process with the same keys accepts it
without a lookup; signing out records the session's id here, and the console's gate refuses a
recorded one. One row per sign-out, removed once the session's own expiry has passed.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, delete, insert, select

from deltahook.store.tables import console_signouts


def end(conn: Connection, session: str, *, expires: datetime, now: datetime) -> None:
    """Record that ``session`` (valid until ``expires``) was signed out; forget the expired."""
    conn.execute(delete(console_signouts).where(console_signouts.c.expires_at <= now))
    if expires > now and not ended(conn, session):
        conn.execute(insert(console_signouts).values(session=session, expires_at=expires))


def ended(conn: Connection, session: str) -> bool:
    """True when ``session`` was signed out."""
    found = select(console_signouts.c.session).where(console_signouts.c.session == session)
    return conn.execute(found).first() is not None
