"""On PostgreSQL, autovacuum comes round to the tables that change a little every night or every
delivery attempt: per-table storage parameters (SQLite has no vacuum to tune: nothing changes).

PostgreSQL vacuums a table once its dead rows pass ``autovacuum_vacuum_threshold`` (50) plus
``autovacuum_vacuum_scale_factor`` (0.2) of its rows. A nightly full feed that updates 1% of
the entities is vacuumed every ~20 nights; meanwhile every page an update touched (the old
row's and the new one's) has lost its visibility-map bit, and the line-hash scan each ingest
starts with (``store/linescan.py``, an index-only scan of
``ix_entities_kind_line_hash_key_scope``) reads the table's page for each index entry there
("Heap Fetches") until the next vacuum.

Measured on PostgreSQL 15 (autovacuum off, 128 MB shared_buffers, 2 cores, load 2-2.6), SKUs
loaded with ``--baseline`` then ``VACUUM ANALYZE``, then full feeds each changing another 1% of
the SKUs (``bench/data.py``'s mutations), on one copy never vacuumed and on one vacuumed after
each night; the scan's ``EXPLAIN (ANALYZE, BUFFERS)`` before each night's ingest:

- 100k SKUs, never vacuumed, nights 1..8 and after: heap fetches 0, 6.9k, 12.5k, 17.6k, 22.5k,
  27.2k, 31.5k, 35.8k, 39.6k (all-visible pages 100% -> 57%), the scan 19 ms -> 33-71 ms, the
  table 17.0k -> 18.2k pages, the ingest's server CPU 0.14 -> 0.16-0.18 s; vacuumed each night:
  no heap fetch, 15-32 ms, 17.2k pages, 0.11-0.15 s. Each night's ``VACUUM``: 0.09-0.16 s.
  At this size everything is in shared buffers, and the ingests' wall times (0.5-1.2 s) are
  noisier than the difference.
- 1M SKUs (the table, 1.4 GB, outgrows shared buffers), never vacuumed, nights 1..4 and after:
  heap fetches 0, 69k, 125k, 177k, 226k, buffers read 0.2k -> 170k, the scan 275 ms -> 0.44,
  0.65, 0.93, 1.14 s; the ingest 8.0, 5.7, 6.8, 7.3 s wall (client CPU 3.8 -> 5.0 s, server
  1.36 -> 1.86 s). Vacuumed each night: no heap fetch, 233-387 ms, the ingest 7.9, 5.5, 5.1,
  5.0 s (server CPU 1.3-1.6 s). Each night's ``VACUUM``: 1.4-2.1 s; the unvacuumed copy's one
  after four nights 4.5 s, and its scan back to 296 ms. The same night's ingest on fresh copies
  of one store left unvacuumed two nights, three each: as it was, server CPU 2.04, 1.95,
  1.94 s, wall 7.1, 5.5, 7.3 s; vacuumed first, 1.31, 1.19, 1.23 s and 6.9, 4.6, 5.1 s (client
  CPU 3.1-3.5 s either way); that ``VACUUM`` 1.7-4.9 s.
- ``deliveries``: a failing endpoint's 20k queued deliveries, 200k attempts (a claim's update
  and a finish's each) without vacuum: the claim's statement 0.44 -> 2.8 ms and 387 -> 1,679
  buffers, the table 1.8k -> 7.3k pages, the claim index 158 -> 1,949 pages (which VACUUM
  makes reusable, never smaller); one ``VACUUM`` (0.24 s) brought the claim back to 0.38 ms.

So, as PostgreSQL operators set them for large tables that change by small fractions and for
queues:

- ``entities``: vacuum once 0.5% of its rows are dead (a 1%-changed night triggers it; at 1%
  plus the threshold of 50 it would not), and once 0.5% were inserted (new entities' pages
  marked all-visible, PostgreSQL 13 and later); analyse after 2% changed (not 10%).
- ``deliveries`` and ``ingest_jobs`` (updated on each attempt, each batch): vacuum at 1% dead,
  analyse at 2% changed, so the claim's and the running-jobs check's indexes do not fill up
  with dead entries between vacuums.

An ingest does not ``VACUUM`` itself: a night's ``VACUUM`` (1.4-2.1 s at 1M SKUs) would add a
third to the ingest it follows, more than the next night's heap fetches cost (the scan 0.2 s
longer after one unvacuumed night, 0.7 s of server CPU after two), and it needs a connection
outside any transaction; autovacuum does it between feeds, off the ingest's time. The
settings are the tables' own (``\\d+ entities`` shows them), for an operator to change as
usual; downgrading resets them to the server's defaults.

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-30 23:00:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

# table: {storage parameter: value}; insert_scale_factor only where the server knows it (13+).
SETTINGS: dict[str, dict[str, str]] = {
    "entities": {
        "autovacuum_vacuum_scale_factor": "0.005",
        "autovacuum_vacuum_insert_scale_factor": "0.005",
        "autovacuum_analyze_scale_factor": "0.02",
    },
    "deliveries": {
        "autovacuum_vacuum_scale_factor": "0.01",
        "autovacuum_analyze_scale_factor": "0.02",
    },
    "ingest_jobs": {
        "autovacuum_vacuum_scale_factor": "0.01",
        "autovacuum_analyze_scale_factor": "0.02",
    },
}
_SINCE_13 = {"autovacuum_vacuum_insert_scale_factor"}


def upgrade() -> None:
    for table, parameters in _known(SETTINGS).items():
        assigned = ", ".join(f"{name} = {value}" for name, value in parameters.items())
        op.execute(f"ALTER TABLE {table} SET ({assigned})")


def downgrade() -> None:
    for table, parameters in _known(SETTINGS).items():
        op.execute(f"ALTER TABLE {table} RESET ({', '.join(parameters)})")


def _known(settings: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    """``settings`` this server takes: none on SQLite, none it has no name for."""
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return {}
    version = bind.dialect.server_version_info or (0,)
    return {
        table: {k: v for k, v in parameters.items() if k not in _SINCE_13 or version >= (13,)}
        for table, parameters in settings.items()
    }
