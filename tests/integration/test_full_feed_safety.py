"""A full feed never switches off an entity whose record it carried, even a rejected one."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from deltahook.config import Settings
from deltahook.engine import Engine
from deltahook.store import jobs
from deltahook.store.tables import entities
from tests.full_feed_support import FORMATS, Entry, encode, ingest, line_of, onhand

# Rejected, but the key is readable: OnhandValue is not a number (CSV: the reader says so).
KEYED = {
    "ndjson": orjson.dumps(onhand("P05", OnhandValue="many")).decode(),
    "json": orjson.dumps(onhand("P05", OnhandValue="many")).decode(),
    "csv": "P05,W1,1,A,1,many",
}
# Rejected with no readable key.
UNKEYED = {
    "ndjson": '{"PartNo": "P05", "WarehouseCode": ',  # a truncated line
    "json": orjson.dumps({k: v for k, v in onhand("P05").items() if k != "PartNo"}).decode(),
    "csv": ",W1,1,A,1,5",  # an empty PartNo cell
}


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    with Engine.from_settings(Settings(database_url=database_url, batch_size=4)) as engine:
        ingest(engine, [onhand(f"P{i:02}") for i in range(20)] + [onhand("P00", "W2")], "ndjson")
        yield engine


def active(engine: Engine) -> dict[str, Any]:
    """IsActive of every stored stock row (None where the body does not say), by key."""
    with engine.db.connect() as conn:
        rows = conn.execute(select(entities.c.key, entities.c.body))
        return {key: orjson.loads(body).get("IsActive") for key, body in rows}


def feed_with(bad: str) -> list[Entry]:
    """P00-P18 with P05 replaced by ``bad`` and P01 changed; P19 left out."""
    entries: list[Entry] = [onhand(f"P{i:02}") for i in range(19)]
    entries[1] = onhand("P01", OnhandValue=6)
    entries[5] = bad
    return entries


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_rejected_record_with_a_readable_key_is_not_swept(engine: Engine, fmt: str) -> None:
    """P05's record is rejected but keyed: the sweep switches off P19 only."""
    result = ingest(engine, feed_with(KEYED[fmt]), fmt)
    assert [r.line for r in result.rejects] == [line_of(5, fmt)]
    assert result.sweep == "swept"
    assert sorted(c.key for c in result.changes) == ["P01|W1|A", "P19|W1|A"]
    states = active(engine)
    assert (states["P05|W1|A"], states["P19|W1|A"]) == (None, False)


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_rejected_record_without_a_key_stops_the_sweep(engine: Engine, fmt: str) -> None:
    """An unkeyed reject: the rest of the feed is applied, nothing is swept, the job says so."""
    result = ingest(engine, feed_with(UNKEYED[fmt]), fmt)
    line = line_of(5, fmt)
    assert (result.sweep, result.unkeyed_lines) == ("skipped", [line])
    assert [c.key for c in result.changes] == ["P01|W1|A"]
    assert active(engine)["P19|W1|A"] is None
    with engine.db.connect() as conn:
        job = jobs.find(conn, result.job_id)
    assert job is not None
    assert job["status"] == "sweep skipped"
    (reject,) = job["rejects"]
    assert reject["line"] == line
    assert reject["reason"].endswith("its key is unknown, so the sweep did not run")


def test_an_unreadable_json_array_stops_the_sweep(engine: Engine) -> None:
    """A malformed element ends the read of an array: what follows is unknown, so no sweep."""
    entries: list[Entry] = [onhand("P00"), '{"PartNo": "P01", ]', onhand("P02")]
    result = ingest(engine, entries, "json")
    assert (result.sweep, result.unkeyed_lines) == ("skipped", [3])
    assert set(active(engine).values()) == {None}


def test_a_csv_header_with_an_unknown_column_stops_the_sweep(engine: Engine) -> None:
    """The whole file is rejected on line 1: no record is known, so nothing is swept."""
    feed = io.BytesIO(b"PartNo,Colour\nP00,red\n")
    result = engine.ingest("sku_onhand", feed, fmt="csv", mode="full")
    assert (result.sweep, result.unkeyed_lines) == ("skipped", [1])
    assert set(active(engine).values()) == {None}


def test_a_second_json_array_after_the_first_stops_the_sweep(engine: Engine) -> None:
    """Two arrays appended into one file: the first is applied, the second is rejected where it
    starts, and P01-P19 (all in the second) are not switched off as missing."""
    first = encode([onhand("P00", OnhandValue=6)], "json")
    second = encode([onhand(f"P{i:02}") for i in range(1, 20)], "json")
    feed = io.BytesIO(first + second)
    result = engine.ingest("sku_onhand", feed, fmt="json", mode="full", collect=True)
    assert (result.sweep, result.unkeyed_lines) == ("skipped", [4])
    assert [c.key for c in result.changes] == ["P00|W1|A"]
    assert set(active(engine).values()) == {None}
