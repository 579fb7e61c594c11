"""A write batch is full once it holds enough records, enough bytes, or has waited long enough."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from deltahook.candidates import Candidate
from deltahook.writebatch import WriteBatch

NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)


def candidate(key: str, size: int = 10) -> Candidate:
    return Candidate(1, key, None, "", {}, b"x" * size)


def test_it_is_full_at_max_changes_records() -> None:
    """Two records of three: not full; the third fills it."""
    batch = WriteBatch(max_changes=3)
    batch.add({"a": candidate("a"), "b": candidate("b")}, NOW)
    assert not batch.full(NOW)
    batch.add({"c": candidate("c")}, NOW)
    assert batch.full(NOW)


def test_it_is_full_at_max_bytes_of_canonical_bodies() -> None:
    """Large records fill it before it holds ``max_changes`` of them (memory stays flat)."""
    batch = WriteBatch(max_changes=100, max_bytes=25)
    batch.add({"a": candidate("a", 20)}, NOW)
    assert not batch.full(NOW)
    batch.add({"b": candidate("b", 5)}, NOW)
    assert batch.full(NOW)


def test_it_is_full_once_its_first_record_has_waited_max_wait() -> None:
    """The wait counts from the first record added, not the last."""
    batch = WriteBatch(max_changes=100, max_wait=timedelta(seconds=1))
    batch.add({"a": candidate("a")}, NOW)
    batch.add({"b": candidate("b")}, NOW + timedelta(seconds=0.5))
    assert not batch.full(NOW + timedelta(seconds=0.9))
    assert batch.full(NOW + timedelta(seconds=1))


def test_an_empty_batch_is_never_full_and_take_empties_it() -> None:
    """``take`` hands the records over in the order they came and leaves nothing waiting."""
    batch = WriteBatch(max_changes=1, max_wait=timedelta(0))
    assert not batch.full(NOW)
    batch.add({"a": candidate("a"), "b": candidate("b")}, NOW)
    assert ("a" in batch, batch.repeats(["x", "b"]), batch.repeats(["x"])) == (True, True, False)
    assert [(k, c.key) for k, c in batch.take().items()] == [("a", "a"), ("b", "b")]
    assert (len(batch), batch.full(NOW + timedelta(days=1))) == (0, False)
