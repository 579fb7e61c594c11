"""Counting for Prometheus only in a process that exports the counts.

``deltahook.telemetry`` imports prometheus_client, tens of milliseconds of a short command. A
process that exports metrics (``serve``'s ``/metrics``, ``deliver --metrics-port``, or an
embedding that reads ``telemetry.registry``) has imported it before any work is done, so the
places that count look it up rather than import it: a CLI ingest, whose counters nobody could
read, never loads it.

What is written in a transaction is counted when it commits (``on_commit``): a batch rolled
back and retried after a conflict counts once, as the store holds it. Nothing written to a
preview's scratch database (``uncounted``) is counted: it stands for no work.
"""

from __future__ import annotations

import sys
import weakref
from collections.abc import Callable
from types import ModuleType

from sqlalchemy import Connection, Engine, event

_PENDING = "deltahook.uncommitted_counts"  # in a pooled connection's ``info``
_UNCOUNTED: weakref.WeakSet[Engine] = weakref.WeakSet()


def telemetry(conn: Connection | None = None) -> ModuleType | None:
    """``deltahook.telemetry`` when this process exports metrics and ``conn`` (if given) is
    not on an ``uncounted`` database, else None."""
    if conn is not None and conn.engine in _UNCOUNTED:
        return None
    return sys.modules.get("deltahook.telemetry")


def uncounted(engine: Engine) -> None:
    """Count nothing written through ``engine``: a preview's scratch database, whose ingest
    of the ``before`` entity or the base feed is no ingest of this process."""
    _UNCOUNTED.add(engine)


def on_commit(conn: Connection, count: Callable[[], None]) -> None:
    """Call ``count`` when ``conn``'s transaction commits; forget it if it rolls back.

    (SQLAlchemy tells just before the database commits: a commit that then fails, which the
    write lock SQLite's batches hold and PostgreSQL's checks at each statement make rare, has
    counted.)
    """
    engine = conn.engine
    if not event.contains(engine, "commit", _committed):
        event.listen(engine, "commit", _committed)
        event.listen(engine, "rollback", _rolled_back)
    conn.info.setdefault(_PENDING, []).append(count)


def _committed(conn: Connection) -> None:
    for count in conn.info.pop(_PENDING, ()):
        count()


def _rolled_back(conn: Connection) -> None:
    conn.info.pop(_PENDING, None)
