"""The Log tab's query reads one index range in the log's order: a page stops after its rows,
whatever the size of the log (SQLite's plan; the bench row in bench/RESULTS.md has figures)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from deltahook.delivery import log
from deltahook.store.db import open_engine
from deltahook.store.tables import deliveries, notifications


def test_a_page_of_one_type_needs_no_sort(tmp_path: Path) -> None:
    """The plan searches the (event_type, created_at, id) index and sorts nothing."""
    db = open_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    d = deliveries.c
    query = (
        select(deliveries, notifications.c.payload)
        .join(notifications, notifications.c.id == d.notification_id)
        .where(*log._conditions(log.LogFilter(event_type="SkuChangedNotification")))
        .order_by(*log.ORDER)
        .limit(51)
    )
    sql = str(query.compile(db, compile_kwargs={"literal_binds": True}))
    with db.connect() as conn:
        plan = " | ".join(row[3] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))
    db.dispose()
    assert "ix_deliveries_event_type_created_at_id" in plan
    assert "TEMP B-TREE" not in plan
