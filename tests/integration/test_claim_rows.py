"""A claim on SQLite runs its statements written out (``queuesql.WRITTEN_OUT``): it must claim the
same deliveries, hand back the same values and leave the same rows, byte for byte, as
SQLAlchemy's compiled statements do, a lost lease's attempt included."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from deltahook.delivery import queue, queuesql
from deltahook.delivery.claims import Want
from tests.delivery_support import World


def _claims(world: World) -> tuple[list[Any], list[list[tuple[object, ...]]]]:
    """Two claims of the world's deliveries, the second after the first's leases ran out (so
    it records the lost attempts and takes them again), and the raw rows they leave."""
    claimed = []
    for count, lease in ((2, 1), (10, 30)):
        want = Want(count=count, lease=timedelta(seconds=lease), retries=3)
        with world.db.begin() as conn:
            claimed.append(queue.claim(conn, {"hooks": want}, worker="w1", now=world.now))
        world.advance(2.5)
    with world.db.connect() as conn:
        rows = [
            list(conn.exec_driver_sql(f"SELECT * FROM {table} ORDER BY 1").all())
            for table in ("attempts", "deliveries")
        ]
    return claimed, rows


def test_a_written_out_claim_is_the_compiled_claim(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same deliveries claimed with the written-out statements and with SQLAlchemy's: the
    same claims (ids, attempts, bodies, detection times) and the same stored rows."""
    found = []
    for written_out in (True, False):
        monkeypatch.setattr(queuesql, "WRITTEN_OUT", frozenset({"sqlite"} if written_out else ()))
        world = World(f"sqlite:///{tmp_path}/{written_out}.db")
        try:
            world.subscribe("hooks", "http://127.0.0.1:9/hooks")
            world.notify(3)
            found.append(_claims(world))
        finally:
            world.close()
    (claims, rows), (compiled_claims, compiled_rows) = found
    assert claims == compiled_claims
    assert rows == compiled_rows
    assert [len(c) for c in claims] == [2, 3]
    assert len(rows[0]) == 2  # the first claim's two lost attempts
