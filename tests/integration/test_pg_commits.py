"""How an ingest's batches commit on PostgreSQL: without waiting for the disk, and only they."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event

from deltahook.config import Settings
from deltahook.engine import Engine
from tests.integration.test_ingest import ndjson, onhand


def test_batch_commits_do_not_wait_for_the_disk_and_nothing_else_changes(pg_url: str) -> None:
    """Each applied batch commits with synchronous_commit off for its own transaction only:
    the job's end and every later transaction on the same connection commit durably."""
    feed = [onhand(f"P{n}", OnhandValue=n) for n in range(7)]
    with Engine.from_settings(Settings(database_url=pg_url, batch_size=3), pool_size=1) as engine:
        commits: list[str] = []

        @event.listens_for(engine.db, "commit")
        def _commit(conn: Any) -> None:  # as the transaction is about to commit
            commits.append(conn.exec_driver_sql("SHOW synchronous_commit").scalar_one())

        result = engine.ingest("sku_onhand", ndjson(feed), fmt="ndjson", mode="upsert")
        with engine.db.connect() as conn:
            after = conn.exec_driver_sql("SHOW synchronous_commit").scalar_one()
    assert result.counts.inserted == 7
    # the job's start, three batches (3 + 3 + 1 records), the job's end
    assert commits == ["on", "off", "off", "off", "on"]
    assert after == "on"
