"""``queue.finish`` writes SQLite rows itself (its statements written out, each value converted
by its column's type): the rows must be, byte for byte, the ones SQLAlchemy's statements write."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from deltahook.delivery import queue
from deltahook.delivery.claims import Finished, Want
from deltahook.delivery.status import DeliveryStatus
from tests.delivery_support import World


def _finished(world: World, compiled: bool) -> list[list[tuple[object, ...]]]:
    """Claim the world's three deliveries, finish them (delivered, retrying with a response,
    dead with an error) and read back the raw rows."""
    want = Want(count=10, lease=timedelta(seconds=30), retries=3)
    with world.db.begin() as conn:
        claimed = queue.claim(conn, {"hooks": want}, worker="w1", now=world.now)
    assert len(claimed) == 3
    later = world.now + timedelta(seconds=2)  # whole seconds, as the first start: SQLite
    # keeps its text, and a time without microseconds must be written with them all the same
    outcomes = [
        (DeliveryStatus.DELIVERED, 200, None, "ok", None),
        (DeliveryStatus.RETRYING, 503, "503 Service Unavailable", "busy …", later),
        (DeliveryStatus.DEAD, None, "timed out after 5 s", None, None),
    ]
    done = [
        Finished(
            delivery_id=item.id,
            attempt=item.attempt,
            started_at=world.now + timedelta(microseconds=123457 * n),
            duration_ms=12.345,
            status_code=code,
            excerpt=excerpt,
            error=error,
            status=status,
            next_attempt_at=due,
        )
        for n, (item, (status, code, error, excerpt, due)) in enumerate(
            zip(claimed, outcomes, strict=True)
        )
    ]
    with world.db.begin() as conn:
        finish = queue._finish_compiled if compiled else queue.finish
        finish(conn, done, worker="w1", now=later)
    with world.db.connect() as conn:
        return [
            list(conn.exec_driver_sql(f"SELECT * FROM {table} ORDER BY 1").all())
            for table in ("attempts", "deliveries")
        ]


def test_finish_writes_the_rows_sqlalchemy_writes(tmp_path: Path) -> None:
    """The same claims finished with the written-out statements and with SQLAlchemy's leave the
    same attempts and deliveries rows, as SQLite stores them."""
    found = []
    for compiled in (False, True):
        world = World(f"sqlite:///{tmp_path}/{compiled}.db")
        try:
            world.subscribe("hooks", "http://127.0.0.1:9/hooks")
            world.notify(3)
            found.append(_finished(world, compiled))
        finally:
            world.close()
    written, compiled_rows = found
    assert written == compiled_rows
    assert len(written[0]) == 3
