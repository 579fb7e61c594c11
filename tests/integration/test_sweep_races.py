"""A full feed's sweep beside an upsert of an entity it is switching off (PostgreSQL: the two
ingests commit side by side; SQLite runs one writer at a time), and a sweep batch retried after
losing a race to one."""

from __future__ import annotations

import io
import threading
import uuid
from typing import Any

import orjson
import pytest
from sqlalchemy import select, text

from deltahook.config import Settings
from deltahook.engine import Engine
from deltahook.errors import ConflictError
from deltahook.store.tables import entities
from deltahook.sweep import Sweep
from deltahook.writing import Writer


def feed(*records: dict[str, Any]) -> io.BytesIO:
    return io.BytesIO(b"".join(orjson.dumps(r) + b"\n" for r in records))


@pytest.mark.postgres
def test_a_deactivation_and_an_upsert_beside_it_end_as_one_serial_order(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An upsert of a SKU made while the sweep, which read the SKU to switch it off, has not
    written it yet: either the upsert commits first and the SKU is switched off with the
    upsert's fields, or it waits and its record is the SKU's state after the sweep. The
    sweep never writes the fields it read over the upsert's (the upsert lost)."""
    settings = Settings(database_url=pg_url)
    upserter = f"sweep-race-{uuid.uuid4().hex[:8]}"
    upsert_settings = Settings(database_url=f"{pg_url}&application_name={upserter}")
    with Engine.from_settings(settings) as engine:
        first = feed({"PartNo": "P1"}, {"PartNo": "P2", "ManufacturerPartNo": "old"})
        engine.ingest("sku", first, fmt="ndjson")
    upserted: list[BaseException | None] = []
    upsert_first: list[bool] = []

    def upsert() -> None:
        try:
            with Engine.from_settings(upsert_settings) as other:
                record = {"PartNo": "P2", "ManufacturerPartNo": "new"}
                other.ingest("sku", feed(record), fmt="ndjson")
            upserted.append(None)
        except BaseException as exc:  # reported below, in the test's own thread
            upserted.append(exc)

    beside = threading.Thread(target=upsert)
    removals = Sweep._removals

    def removals_then_upsert(sweep: Sweep, keys: list[str], **options: Any) -> Any:
        read = removals(sweep, keys, **options)
        if not upsert_first:  # once: the upsert runs between the sweep's read and its write
            beside.start()
            upsert_first.append(ends_or_waits_for_a_lock(sweep, beside, upserter))
        return read

    monkeypatch.setattr(Sweep, "_removals", removals_then_upsert)
    with Engine.from_settings(settings) as engine:
        engine.ingest("sku", feed({"PartNo": "P1"}), mode="full", fmt="ndjson")
        beside.join(timeout=60)
        with engine.db.connect() as conn:
            body = conn.execute(select(entities.c.body).where(entities.c.key == "P2")).scalar_one()
    assert upserted == [None]
    stored = orjson.loads(body)
    if upsert_first == [True]:  # upsert, then the full feed
        assert (stored["ManufacturerPartNo"], stored["StatusId"]) == ("new", 5)
    else:  # the full feed, then the upsert: its record is the whole state
        assert stored == {"PartNo": "P2", "ManufacturerPartNo": "new"}


def ends_or_waits_for_a_lock(sweep: Sweep, thread: threading.Thread, application: str) -> bool:
    """Wait until ``thread`` has ended (True) or its connection waits for a lock (False)."""
    waiting = text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE application_name = :name AND wait_event_type = 'Lock'"
    )
    while thread.is_alive():
        with sweep.conn.engine.connect() as conn:
            if conn.execute(waiting, {"name": application}).scalar_one():
                return False
        thread.join(timeout=0.05)
    return True


def test_a_sweep_batch_retried_after_a_race_reads_its_entities_again(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sweep batch that lost a race (a deadlock on PostgreSQL, here raised on its first
    attempt) is rolled back and retried; an upsert of the SKU it switches off commits between
    the attempts. The retry switches off the upserted SKU: it does not write the fields it read
    before the upsert (which would lose the upsert, though both ingests succeeded)."""
    settings = Settings(database_url=database_url)
    with Engine.from_settings(settings) as engine:
        first = feed({"PartNo": "P1"}, {"PartNo": "P2", "ManufacturerPartNo": "old"})
        engine.ingest("sku", first, fmt="ndjson")
    attempts: list[set[str]] = []
    apply, end_batch = Writer._apply, Writer._end_batch

    def lose_the_first_sweep_attempt(writer: Writer, conn: Any, batch: Any, tally: Any) -> None:
        if writer.mode == "full" and "P2" in batch:
            attempts.append(set(batch))
            if len(attempts) == 1:
                raise ConflictError("a concurrent writer changed the same entities; retry")
        apply(writer, conn, batch, tally)

    def upsert_between_attempts(writer: Writer, *, kept: bool) -> None:
        end_batch(writer, kept=kept)
        if not kept:  # rolled back: the sweep holds no lock until it reads again
            with Engine.from_settings(settings) as other:
                record = {"PartNo": "P2", "ManufacturerPartNo": "new"}
                other.ingest("sku", feed(record), fmt="ndjson")

    monkeypatch.setattr(Writer, "_apply", lose_the_first_sweep_attempt)
    monkeypatch.setattr(Writer, "_end_batch", upsert_between_attempts)
    with Engine.from_settings(settings) as engine:
        result = engine.ingest("sku", feed({"PartNo": "P1"}), mode="full", fmt="ndjson")
        with engine.db.connect() as conn:
            body = conn.execute(select(entities.c.body).where(entities.c.key == "P2")).scalar_one()
    assert attempts == [{"P2"}, {"P2"}]
    assert result.counts.updated == 1  # switched off once, counted once
    stored = orjson.loads(body)
    assert (stored["ManufacturerPartNo"], stored["StatusId"]) == ("new", 5)
