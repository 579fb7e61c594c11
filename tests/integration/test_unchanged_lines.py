"""NDJSON lines identical to the ones that made the stored snapshots: found by their hash, never
parsed, and still counted, deduplicated, rejected and swept exactly like any other line."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from deltahook.config import Settings
from deltahook.engine import Engine
from deltahook.results import Mode, RunResult
from tests.integration.test_ingest import ndjson, onhand, stored

UNCHANGED = onhand("P1", OnhandValue=1)
CHANGED = onhand("P1", OnhandValue=5)


@pytest.fixture
def store(database_url: str) -> Iterator[str]:
    """A store holding P1 (OnhandValue 1) and P2 at warehouse W1 and P1 at W2."""
    with Engine.from_settings(Settings(database_url=database_url)) as engine:
        feed = [UNCHANGED, onhand("P2"), onhand("P1", wh="W2")]
        engine.ingest("sku_onhand", ndjson(feed), fmt="ndjson", mode="upsert")
    return database_url


def ingest(
    url: str, records: list[dict[str, Any] | str], *, batch_size: int = 100, mode: Mode = "upsert"
) -> tuple[RunResult, dict[str, tuple[dict[str, Any], int]]]:
    settings = Settings(database_url=url, batch_size=batch_size, max_remove={"default": "100%"})
    with Engine.from_settings(settings) as engine:
        result = engine.ingest("sku_onhand", ndjson(records), fmt="ndjson", mode=mode, collect=True)
        return result, stored(engine, "sku_onhand")


@pytest.mark.parametrize(
    ("feed", "batch_size", "unchanged", "updated", "value", "version"),
    [
        # one batch: the changed copy replaces the unchanged one before anything is applied
        ([UNCHANGED, CHANGED], 100, 0, 1, 5, 2),
        # one batch: the unchanged copy wins, so nothing changes at all
        ([CHANGED, UNCHANGED], 100, 1, 0, 1, 1),
        # one line per batch: the unchanged copy is counted, then the changed one applied
        ([UNCHANGED, CHANGED], 1, 1, 1, 5, 2),
        # one line per batch: the changed copy is applied, then the old line changes it back
        ([CHANGED, UNCHANGED], 1, 0, 2, 1, 3),
    ],
)
def test_a_duplicate_of_an_unchanged_line_follows_last_one_wins(
    store: str,
    feed: list[dict[str, Any] | str],
    batch_size: int,
    unchanged: int,
    updated: int,
    value: int,
    version: int,
) -> None:
    """An unchanged line and a changed copy of its key: the later one wins, in every order."""
    result, bodies = ingest(store, feed, batch_size=batch_size)
    counts = result.counts
    assert (counts.duplicates, counts.unchanged, counts.updated) == (1, unchanged, updated)
    (notice,) = result.notices
    assert notice.startswith("line 2: duplicate key 'P1|W1|A' in this feed; the last one wins")
    body, stored_version = bodies["P1|W1|A"]
    assert (body["OnhandValue"], stored_version) == (value, version)


@pytest.mark.parametrize(
    ("batch_size", "unchanged"),
    [
        (100, 1),  # one batch: the first copy is dropped before it is counted
        (1, 2),  # one line per batch: each copy is counted where it is applied
    ],
)
def test_a_repeated_unchanged_line_is_one_duplicate(
    store: str, batch_size: int, unchanged: int
) -> None:
    """The same unchanged line twice is reported once as a duplicate and changes nothing."""
    result, bodies = ingest(store, [UNCHANGED, UNCHANGED], batch_size=batch_size)
    counts = result.counts
    assert (counts.duplicates, counts.unchanged, counts.updated) == (1, unchanged, 0)
    assert bodies["P1|W1|A"][1] == 1


def test_unparseable_lines_among_unchanged_ones_are_rejected_by_line(store: str) -> None:
    """Malformed JSON and a non-object are rejected with their lines; the unchanged lines pass."""
    feed: list[dict[str, Any] | str] = [UNCHANGED, '{"PartNo": "P2", ', onhand("P2"), "[1]"]
    result, _ = ingest(store, feed)
    assert [(r.line, r.field) for r in result.rejects] == [(2, None), (4, None)]
    assert result.rejects[0].reason.startswith("malformed JSON")
    assert "must be a JSON object" in result.rejects[1].reason
    assert (result.counts.received, result.counts.unchanged) == (4, 2)


def test_a_full_feed_of_unchanged_lines_sweeps_only_their_scope(store: str) -> None:
    """The scopes of unchanged lines come from the store: W1's missing row is deactivated,
    W2 (not in the feed) is left alone."""
    result, bodies = ingest(store, [UNCHANGED], mode="full")
    assert (result.counts.unchanged, result.counts.updated) == (1, 1)
    assert [change.key for change in result.changes] == ["P2|W1|A"]
    assert bodies["P2|W1|A"][0]["IsActive"] is False
    assert bodies["P1|W2|A"][0]["IsActive"] is True


def test_a_merge_never_skips_by_line(store: str) -> None:
    """In merge mode a line identical to the stored one is merged and compared like any other."""
    result, bodies = ingest(store, [UNCHANGED], mode="merge")
    assert (result.counts.unchanged, result.counts.updated) == (1, 0)
    assert bodies["P1|W1|A"][1] == 1
