"""A key repeated in one feed: what is stored, what is notified, and what the report says.

The last copy wins. Within a batch only it is applied; a copy in a later batch is applied over
the earlier one, which its batch already applied and notified (the feed is neither held in
memory nor read twice), so both changes are notified and the report says so.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from deltahook.changes.model import Op
from deltahook.config import Settings
from deltahook.engine import Engine
from tests.full_feed_support import ingest, onhand


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    with Engine.from_settings(Settings(database_url=database_url, batch_size=3)) as engine:
        yield engine


def test_a_copy_in_the_same_batch_replaces_the_first_before_anything_is_notified(
    engine: Engine,
) -> None:
    """Lines 1 and 3 share a batch: one insert, with line 3's value."""
    feed = [onhand("P1", OnhandValue=1), onhand("P2"), onhand("P1", OnhandValue=3)]
    result = ingest(engine, feed, "ndjson", mode="upsert")
    (change,) = [c for c in result.changes if c.key == "P1|W1|A"]
    assert change.op == Op.INSERT
    assert {f.field: f.new for f in change.rows[0].fields}["OnhandValue"] == 3
    assert result.notices == [
        "line 3: duplicate key 'P1|W1|A' in this feed; the last one wins (the earlier copy in "
        "its batch was not applied)"
    ]


def test_a_copy_in_a_later_batch_is_applied_over_the_first_and_both_are_notified(
    engine: Engine,
) -> None:
    """Line 1 is in the first batch, line 5 in the second: an insert, then an update 1 -> 5."""
    feed = [onhand("P1", OnhandValue=1), onhand("P2"), onhand("P3"), onhand("P4")]
    feed.append(onhand("P1", OnhandValue=5))
    result = ingest(engine, feed, "ndjson", mode="upsert")
    changes = [c for c in result.changes if c.key == "P1|W1|A"]
    assert [c.op for c in changes] == [Op.INSERT, Op.UPDATE]
    (field,) = changes[1].rows[0].fields
    assert (field.field, field.old, field.new) == ("OnhandValue", 1, 5)
    assert (result.counts.duplicates, result.counts.inserted, result.counts.updated) == (1, 4, 1)
    assert result.notices == [
        "line 5: duplicate key 'P1|W1|A' in this feed; the last one wins, but an earlier copy "
        "was applied with an earlier batch (and its change notified): this one is applied over it"
    ]


@pytest.mark.parametrize("fmt", ["ndjson", "json", "csv"])
def test_an_invalid_copy_replaced_by_a_later_one_is_still_rejected(
    engine: Engine, fmt: str
) -> None:
    """A bad record is rejected with its line whatever follows it: a later copy of its key
    does not hide it (NDJSON whole lines are validated after their batch, and a later copy
    dropped the earlier one unread), and the later copy is the first good one, no duplicate:
    every format reports the same and stores the same."""
    feed = [onhand("P1", OnhandValue="many"), onhand("P2"), onhand("P1", OnhandValue=3)]
    result = ingest(engine, feed, fmt, mode="upsert")
    assert [(r.line, r.field) for r in result.rejects] == [(1 + (fmt != "ndjson"), "OnhandValue")]
    assert (result.counts.duplicates, result.notices) == (0, [])
    (change,) = [c for c in result.changes if c.key == "P1|W1|A"]
    assert {f.field: f.new for f in change.rows[0].fields}["OnhandValue"] == 3
