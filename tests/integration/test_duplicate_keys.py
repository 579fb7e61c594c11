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
@pytest.mark.parametrize("bad_first", [True, False])
def test_a_bad_copy_of_a_key_is_rejected_and_the_good_one_applied(
    engine: Engine, fmt: str, bad_first: bool
) -> None:
    """A bad record is rejected with its line wherever it stands beside a good copy of its key,
    and the good copy is applied: no duplicate (only one copy was good). NDJSON lines are
    validated after their batch, and a later copy dropped the earlier one unread (a bad one
    never said) or replaced a good one (nothing applied); every format now does the same."""
    good, bad = onhand("P1", OnhandValue=3), onhand("P1", OnhandValue="many")
    feed = [bad, onhand("P2"), good] if bad_first else [good, onhand("P2"), bad]
    result = ingest(engine, feed, fmt, mode="upsert")
    line = (1 if bad_first else 3) + (fmt != "ndjson")
    assert [(r.line, r.field) for r in result.rejects] == [(line, "OnhandValue")]
    assert (result.counts.duplicates, result.notices) == (0, [])
    (change,) = [c for c in result.changes if c.key == "P1|W1|A"]
    assert {f.field: f.new for f in change.rows[0].fields}["OnhandValue"] == 3


@pytest.mark.parametrize("fmt", ["ndjson", "json", "csv"])
def test_a_good_copy_after_a_bad_one_in_an_earlier_batch_is_no_duplicate(
    engine: Engine, fmt: str
) -> None:
    """Line 1 (bad) is in the first batch, line 4 (good) in the second: the first is rejected,
    the second applied, and nothing is reported as a duplicate "applied over" an earlier copy,
    since none was applied."""
    feed = [onhand("P1", OnhandValue="many"), onhand("P2"), onhand("P3")]
    feed.append(onhand("P1", OnhandValue=3))
    result = ingest(engine, feed, fmt, mode="upsert")
    assert [(r.line, r.field) for r in result.rejects] == [(1 + (fmt != "ndjson"), "OnhandValue")]
    assert (result.counts.duplicates, result.notices) == (0, [])
    assert (result.counts.inserted, result.counts.updated) == (3, 0)
