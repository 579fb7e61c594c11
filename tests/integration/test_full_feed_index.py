"""A full NDJSON feed finds its unchanged lines in an index of the stored line hashes read once,
on SQLite and on PostgreSQL: every result is the one a query per batch gives, also when another
ingest commits to the same kind while the feed is read, and for entities stored without a line
hash."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
import xxhash
from sqlalchemy import create_engine, insert

from deltahook.config import Settings
from deltahook.engine import Engine
from deltahook.results import RunResult
from deltahook.store.lineindex import LineIndex
from deltahook.store.linescan import ROWS
from deltahook.store.tables import entities, metadata
from tests.integration.test_ingest import ndjson, onhand, stored

UNCHANGED = onhand("P1", OnhandValue=1)
CHANGED = onhand("P1", OnhandValue=5)
KIND = "sku_onhand"
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def line(record: dict[str, Any]) -> bytes:
    return orjson.dumps(record) + b"\n"


class Trickle(io.RawIOBase):
    """A feed that arrives one line per read, running ``then`` before line ``at`` (1-based; one
    past the last line: at the end) is handed over, as a slow upload would let another ingest
    in between two batches."""

    def __init__(self, lines: list[bytes], at: int, then: Callable[[], None]) -> None:
        super().__init__()
        self._lines, self._at, self._then, self._given = lines, at, then, 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self._given + 1 == self._at:
            self._then()
        self._given += 1
        return self._lines[self._given - 1] if self._given <= len(self._lines) else b""


def engine_for(url: str, **settings: Any) -> Engine:
    options: dict[str, Any] = {"max_remove": {"default": "100%"}} | settings
    return Engine.from_settings(Settings(database_url=url, **options))


@pytest.fixture
def url(database_url: str) -> str:
    return database_url


def upsert(
    url: str, records: list[dict[str, Any]], fmt: str = "ndjson", engine: Engine | None = None
) -> None:
    data = ndjson(records) if fmt == "ndjson" else io.BytesIO(orjson.dumps(records))
    if engine is not None:
        engine.ingest(KIND, data, fmt=fmt, mode="upsert")
        return
    with engine_for(url) as own:
        own.ingest(KIND, data, fmt=fmt, mode="upsert")


def full(url: str, feed: io.RawIOBase | io.BytesIO, batch_size: int = 2) -> RunResult:
    with engine_for(url, batch_size=batch_size) as engine:
        return engine.ingest(KIND, feed, fmt="ndjson", mode="full", collect=True)


def bodies(url: str) -> dict[str, tuple[dict[str, Any], int]]:
    with engine_for(url) as engine:
        return stored(engine, KIND)


PARTS = [onhand(f"P{i}", OnhandValue=1) for i in range(1, 7)]


def test_a_commit_by_another_ingest_between_batches_is_seen_by_the_next(url: str) -> None:
    """Another ingest changes P5 while the feed's first batches are applied: P5's line, the old
    stored one, is then a change (back to 1), as a query per batch would find."""
    upsert(url, PARTS)
    feed = Trickle([line(p) for p in PARTS], 3, lambda: upsert(url, [onhand("P5", OnhandValue=9)]))
    result = full(url, feed)
    assert (result.counts.unchanged, result.counts.updated) == (5, 1)
    assert [change.key for change in result.changes] == ["P5|W1|A"]
    assert bodies(url)["P5|W1|A"][0]["OnhandValue"] == 1


def test_a_commit_through_the_runs_own_pooled_connection_is_seen_too(url: str) -> None:
    """The other ingest runs on the same engine, so on the very connection the run had (whose
    own commits SQLite's data_version does not count): the next batch sees it all the same."""
    upsert(url, PARTS)
    with engine_for(url, batch_size=2) as engine:
        change = [onhand("P5", OnhandValue=9)]
        feed = Trickle([line(p) for p in PARTS], 3, lambda: upsert(url, change, engine=engine))
        result = engine.ingest(KIND, feed, fmt="ndjson", mode="full", collect=True)
    assert (result.counts.unchanged, result.counts.updated) == (5, 1)
    assert [change.key for change in result.changes] == ["P5|W1|A"]
    assert bodies(url)["P5|W1|A"][0]["OnhandValue"] == 1


def test_an_entity_another_ingest_stores_before_the_sweep_is_swept(url: str) -> None:
    """P9, stored by another ingest after the feed's last line was read, is missing from the
    feed and deactivated by its sweep, as a sweep reading the store's keys would."""
    upsert(url, PARTS)
    feed = Trickle([line(p) for p in PARTS], 7, lambda: upsert(url, [onhand("P9")]))
    result = full(url, feed)
    assert (result.counts.unchanged, result.counts.updated) == (6, 1)
    assert bodies(url)["P9|W1|A"][0]["IsActive"] is False


@pytest.mark.parametrize(
    ("feed", "batch_size", "unchanged", "updated", "value", "version"),
    [
        # one batch: the changed copy replaces the unchanged one before anything is applied
        ([UNCHANGED, CHANGED], 100, 0, 1, 5, 2),
        # one batch: the unchanged copy wins, so nothing changes at all
        ([CHANGED, UNCHANGED], 100, 1, 0, 1, 1),
        # one line per batch: the unchanged copy is counted, then the changed one applied
        ([UNCHANGED, CHANGED], 1, 1, 1, 5, 2),
        # one line per batch: the changed copy is applied, and the old line, no longer the
        # stored one, changes it back
        ([CHANGED, UNCHANGED], 1, 0, 2, 1, 3),
        # the same with the changed line twice: its second copy is the stored line by then
        ([CHANGED, CHANGED, UNCHANGED], 1, 1, 2, 1, 3),
    ],
)
def test_duplicates_of_unchanged_and_rewritten_lines_follow_last_one_wins(
    url: str,
    feed: list[dict[str, Any]],
    batch_size: int,
    unchanged: int,
    updated: int,
    value: int,
    version: int,
) -> None:
    """An unchanged line and changed copies of its key in a full feed: the last one wins."""
    upsert(url, [UNCHANGED])
    result = full(url, ndjson(feed), batch_size=batch_size)
    counts = result.counts
    duplicates = len(feed) - 1
    assert (counts.duplicates, counts.unchanged, counts.updated) == (duplicates, unchanged, updated)
    assert result.notices[0].startswith("line 2: duplicate key 'P1|W1|A' in this feed;")
    assert len(result.notices) == duplicates
    body, stored_version = bodies(url)["P1|W1|A"]
    assert (body["OnhandValue"], stored_version) == (value, version)


def test_an_unchanged_line_again_in_a_later_batch_names_its_key(url: str) -> None:
    """The second copy of an unchanged line, batches later, is reported by the stored key."""
    upsert(url, PARTS)
    result = full(url, ndjson([*PARTS, PARTS[0]]))
    assert (result.counts.duplicates, result.counts.unchanged) == (1, 7)
    assert result.notices == [
        "line 7: duplicate key 'P1|W1|A' in this feed; the last one wins, but an earlier copy "
        "was applied with an earlier batch (and its change notified): this one is applied over it"
    ]


def test_entities_stored_without_a_line_hash_are_swept_like_the_others(url: str) -> None:
    """P1 and P2 came from a JSON feed (no line hash), P3 and P4 from NDJSON: the full feed of P1
    and P3 deactivates P2 and P4, in key order."""
    upsert(url, PARTS[:2], fmt="json")
    upsert(url, PARTS[2:4])
    result = full(url, ndjson([PARTS[0], PARTS[2]]))
    assert [change.key for change in result.changes] == ["P2|W1|A", "P4|W1|A"]
    assert (result.counts.unchanged, result.counts.updated) == (2, 2)


def test_a_preview_sees_its_own_batches_and_stores_nothing(url: str) -> None:
    """A preview whose feed changes P1 and then sends its old line again: both changes, and the
    store is left as it was."""
    upsert(url, PARTS)
    with engine_for(url, batch_size=1) as engine:
        feed = ndjson([CHANGED, UNCHANGED, *PARTS[1:]])
        result = engine.preview(KIND, feed, fmt="ndjson", mode="full")
    assert (result.counts.updated, result.counts.unchanged, result.counts.duplicates) == (2, 5, 1)
    assert bodies(url)["P1|W1|A"][1] == 1


MANY = [onhand(f"P{i:02d}", OnhandValue=1) for i in range(1, 13)]  # over 4 batches of 2


def test_a_scoped_kind_reads_its_index_at_the_second_batch_and_keeps_what_the_first_saw(
    url: str,
) -> None:
    """Twelve stored rows, batches of two: the first batch is looked up by query, the index is
    read at the second; P01 again at line 6 is still a duplicate, and P12 (left out) is swept."""
    upsert(url, MANY)
    feed = [*MANY[:5], MANY[0], *MANY[5:11]]
    result = full(url, ndjson(feed))
    counts = result.counts
    assert (counts.duplicates, counts.unchanged, counts.updated) == (1, 12, 1)
    assert result.notices[0].startswith("line 6: duplicate key 'P01|W1|A' in this feed; the last")
    assert [change.key for change in result.changes] == ["P12|W1|A"]


def test_a_feed_of_one_scope_among_larger_ones_sweeps_only_its_own(url: str) -> None:
    """Twelve rows at W1 and two at W2: a full feed of W2 with one of its rows is looked up by
    query throughout, and sweeps W2's other row only."""
    upsert(url, [*MANY, onhand("P01", wh="W2"), onhand("P02", wh="W2")])
    result = full(url, ndjson([onhand("P01", wh="W2")]))
    assert (result.counts.unchanged, result.counts.updated) == (1, 1)
    assert [change.key for change in result.changes] == ["P02|W2|A"]


def test_the_index_reads_every_line_of_its_transaction_in_several_fetches(url: str) -> None:
    """The scan (on PostgreSQL a server-side cursor) reads every line hash stored so far in the
    transaction it is given, uncommitted ones too, across more than one fetch of rows."""
    engine = create_engine(url)
    metadata.create_all(engine)
    lines = {f"K{i}": xxhash.xxh3_128_digest(str(i).encode()) for i in range(2 * ROWS + 1)}
    values = {"kind": "k", "scope": "", "hash": b"h", "body": b"{}", "version": 1}
    values |= {"created_at": NOW, "updated_at": NOW}
    rows = [values | {"key": key, "line_hash": line_hash} for key, line_hash in lines.items()]
    try:
        with engine.begin() as conn:
            conn.execute(insert(entities), rows)
            index = LineIndex.read(conn, "k", scoped=False)
            found = index.lookup(int.from_bytes(line_hash, "big") for line_hash in lines.values())
            assert sorted(found) == list(range(len(lines)))
            assert index.key(conn, found[-1]) == f"K{2 * ROWS}"
    finally:
        engine.dispose()
