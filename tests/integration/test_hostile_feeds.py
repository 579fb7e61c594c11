"""Hostile records: the same rejection (line, field, reason) from every reader, on every database.

Each record below goes through NDJSON, a JSON array and CSV between two good records. The bad
record is rejected by its line and field with the same reason whichever reader read it; the good
records go in; nothing the schema forbids is stored.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from deltahook.config import Settings
from deltahook.engine import Engine
from deltahook.feeds import values
from deltahook.feeds.readers import FORMATS, Format
from deltahook.store.tables import entities, job_rejects
from tests.hostile_feeds import Cell, feed, number, raw_text, stock, text

WIDE = "integer does not fit in 64 bits"
NOT_FINITE = "not a finite number: NaN, Infinity and numbers beyond ±1.8e308 cannot be stored"
NUL = "contains a NUL character (\\u0000), which cannot be stored"
NOT_UTF8 = "is not valid UTF-8"
LONG_KEY = "the entity key is longer than 512 characters"

CASES: list[tuple[str, dict[str, Cell], str, str]] = [
    # item 1: integers wider than 64 bits, on both sides, and far wider than Python parses
    ("2**100", {"OnhandValue": number(str(2**100))}, "OnhandValue", WIDE),
    ("-2**63-1", {"OnhandValue": number(str(-(2**63) - 1))}, "OnhandValue", WIDE),
    ("2**64", {"OnhandValue": number(str(2**64))}, "OnhandValue", WIDE),
    ("5000 digits", {"OnhandValue": number("7" * 5000)}, "OnhandValue", WIDE),
    ("wide id", {"WarehouseId": number(str(2**70))}, "WarehouseId", WIDE),
    # item 4: no NaN, no infinity, no number a double cannot hold
    ("NaN", {"OnhandValue": number("NaN")}, "OnhandValue", NOT_FINITE),
    ("Infinity", {"OnhandValue": number("Infinity")}, "OnhandValue", NOT_FINITE),
    ("-Infinity", {"OnhandValue": number("-Infinity")}, "OnhandValue", NOT_FINITE),
    ("1e400", {"OnhandValue": number("1e400")}, "OnhandValue", NOT_FINITE),
    ("-1e400", {"OnhandValue": number("-1e400")}, "OnhandValue", NOT_FINITE),
    # item 7: NUL in a key field and in another text field
    ("NUL in key", {"PartNo": text("P\x00X")}, "PartNo", NUL),
    ("NUL in location", {"LocationCode": text("\x00")}, "LocationCode", NUL),
    # item 2: invalid UTF-8 inside a text value
    ("bad UTF-8", {"PartNo": raw_text(b"P\xffX")}, "PartNo", NOT_UTF8),
    ("cut UTF-8", {"LocationCode": raw_text(b"\xc3")}, "LocationCode", NOT_UTF8),
    # a key longer than the store keeps
    ("long key", {"PartNo": text("P" * 600)}, "PartNo", LONG_KEY),
]


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    with Engine.from_settings(Settings(database_url=database_url)) as engine:
        yield engine


def stored(engine: Engine) -> dict[str, Any]:
    with engine.db.connect() as conn:
        rows = conn.execute(select(entities.c.key, entities.c.body))
        return {key: orjson.loads(body) for key, body in rows}


@pytest.mark.parametrize(("case", "cells", "field", "reason"), CASES, ids=[c[0] for c in CASES])
def test_every_reader_rejects_a_hostile_record_alike_and_keeps_the_good_ones(
    engine: Engine, case: str, cells: dict[str, Cell], field: str, reason: str
) -> None:
    """Line 3 is rejected by field and reason in every format; lines 2 and 4 are stored."""
    rows = [stock("GOOD-1"), stock("BAD", **cells), stock("GOOD-2")]
    seen = set()
    for fmt in FORMATS:
        result = engine.ingest("sku_onhand", io.BytesIO(feed(rows, fmt)), fmt=fmt)
        seen.add(tuple((r.line, r.field, r.reason) for r in result.rejects))
        assert result.counts.rejected == 1, fmt
        assert sorted(stored(engine)) == ["GOOD-1|W1|A", "GOOD-2|W1|A"], fmt
    assert seen == {((3, field, reason),)}


def test_good_records_of_the_batch_go_in_and_rejects_are_kept_with_the_job(
    engine: Engine,
) -> None:
    """Every hostile record of one feed is rejected; the job keeps their lines; the rest go in."""
    rows = [stock(f"GOOD-{n}") for n in range(3)]
    rows += [stock(f"BAD-{n}", **cells) for n, (_, cells, _, _) in enumerate(CASES)]
    for fmt in FORMATS:
        result = engine.ingest("sku_onhand", io.BytesIO(feed(rows, fmt)), fmt=fmt)
        assert result.counts.rejected == len(CASES), fmt
        assert [r.line for r in result.rejects] == list(range(5, 5 + len(CASES)))
        with engine.db.connect() as conn:
            kept = conn.execute(
                select(job_rejects.c.line).where(job_rejects.c.job_id == result.job_id)
            )
            assert len(list(kept)) == len(CASES)
    assert sorted(stored(engine)) == [f"GOOD-{n}|W1|A" for n in range(3)]


@pytest.mark.parametrize("fmt", ["ndjson", "json"])
@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"18446744073709551616", WIDE),  # 2**64
        (b"1e400", NOT_FINITE),
        (b'"\\u0000"', NUL),  # a NUL where a number belongs is still a NUL
    ],
)
def test_a_hostile_value_in_a_nested_row_names_its_path(
    engine: Engine, fmt: Format, value: bytes, reason: str
) -> None:
    """A bad value in a SKU's sales areas is rejected with the path to it."""
    record = b'{"PartNo": "P1", "StatusId": 1, "SalesAreas": [{"SalesAreaId": 1, "VatRate": '
    record += value + b"}]}"
    body = record if fmt == "ndjson" else b"[" + record + b"]"
    result = engine.ingest("sku", io.BytesIO(body), fmt=fmt)
    assert [(r.line, r.field, r.reason) for r in result.rejects] == [
        (1, "SalesAreas.0.VatRate", reason)
    ]


EDGES = [
    ("2**64-1", str(2**64 - 1), 2**64 - 1),  # the widest integer a store keeps
    ("-2**63", str(-(2**63)), -(2**63)),
    ("1e30", "1e30", 1e30),  # a float beyond 64-bit integers stays a float
    ("largest double", "1.7976931348623157e308", 1.7976931348623157e308),
    ("19 digits", "1234567890123456789", 1234567890123456789),
]


@pytest.mark.parametrize(("case", "literal", "value"), EDGES, ids=[e[0] for e in EDGES])
def test_values_at_the_edges_are_stored_alike_by_every_reader(
    engine: Engine, case: str, literal: str, value: float
) -> None:
    """Numbers a store can keep go in unchanged, whichever reader read them."""
    rows = [stock(f"EDGE-{fmt}", OnhandValue=number(literal)) for fmt in FORMATS]
    for n, fmt in enumerate(FORMATS):
        result = engine.ingest("sku_onhand", io.BytesIO(feed(rows[n : n + 1], fmt)), fmt=fmt)
        assert (result.counts.inserted, result.rejects) == (1, []), fmt
    bodies = stored(engine)
    assert [bodies[f"EDGE-{fmt}|W1|A"]["OnhandValue"] for fmt in FORMATS] == [value] * 3


KEY_FIELDS = ("PartNo", "WarehouseCode", "LocationCode")


@pytest.mark.parametrize(("case", "cells", "field", "reason"), CASES, ids=[c[0] for c in CASES])
def test_a_full_feed_never_sweeps_for_a_hostile_record_it_cannot_key(
    engine: Engine, case: str, cells: dict[str, Cell], field: str, reason: str
) -> None:
    """A bad value outside the key keeps the stored entity; an unreadable key skips the sweep."""
    first = [stock("GOOD-1"), stock("BAD"), stock("GOOD-2"), stock("GONE")]
    engine.ingest("sku_onhand", io.BytesIO(feed(first, "ndjson")), fmt="ndjson")
    unreadable_key = field in KEY_FIELDS and reason in (NUL, NOT_UTF8)
    for fmt in FORMATS:
        rows = [stock("GOOD-1"), stock("BAD", **cells), stock("GOOD-2")]
        data = io.BytesIO(feed(rows, fmt))
        result = engine.ingest("sku_onhand", data, fmt=fmt, mode="full", max_remove="100%")
        assert [(r.line, r.field) for r in result.rejects] == [(3, field)], fmt
        assert result.sweep == ("skipped" if unreadable_key else "swept"), fmt
        bodies = stored(engine)
        assert bodies["GONE|W1|A"].get("IsActive", True) is unreadable_key, fmt
        if field not in KEY_FIELDS:
            assert bodies["BAD|W1|A"].get("IsActive", True) is True, fmt


@pytest.mark.parametrize("fmt", ["ndjson", "json"])
@pytest.mark.parametrize("depth", [70, 300])  # beyond the limit, within orjson's and Python's
def test_nesting_beyond_the_limit_is_rejected_alike(
    engine: Engine, fmt: Format, depth: int
) -> None:
    """A value nested deeper than the limit is rejected by its top field in both JSON readers."""
    record = b'{"PartNo": "P1", "StatusId": 1, "Weight": ' + b"[" * depth + b"]" * depth + b"}"
    body = record if fmt == "ndjson" else b"[" + record + b"]"
    result = engine.ingest("sku", io.BytesIO(body), fmt=fmt)
    assert [(r.line, r.field, r.reason) for r in result.rejects] == [(1, "Weight", values.DEEP)]
