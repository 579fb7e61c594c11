"""Ids: stable ones (the same parts always give the same UUID, the one ``uuid.uuid5`` gives, or
near a job its time-ordered variant) and new time-ordered ones."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deltahook import notifications
from deltahook.notifications import _NAMESPACE, stable_id, stable_ids, time_ordered_id

texts = st.text(st.characters(exclude_categories=("Cs",)))  # surrogates cannot be encoded
parts = st.lists(st.one_of(texts, st.integers(), st.none()), max_size=5)


@given(parts)
def test_stable_id_is_uuid5_of_the_joined_parts(values: list[object]) -> None:
    """Ids stored by earlier versions stay valid: they are uuid5 of the parts joined by US."""
    expected = uuid.uuid5(_NAMESPACE, "\x1f".join(str(v) for v in values))
    assert stable_id(*values) == str(expected)


def test_stable_id_is_a_version_5_uuid() -> None:
    """The text parses back as an RFC 4122 version-5 UUID."""
    parsed = uuid.UUID(stable_id("rule", "job", "SkuChangedNotification", "{}"))
    assert (parsed.version, parsed.variant) == (5, uuid.RFC_4122)


@given(st.lists(st.one_of(texts, st.integers(), st.none()), min_size=1, max_size=4), texts)
def test_stable_ids_with_a_hashed_prefix_equal_stable_id(prefix: list[object], last: str) -> None:
    """The prefix hashed once gives, for every last part, the id ``stable_id`` gives."""
    assert stable_ids(*prefix)(last) == stable_id(*prefix, last)


def test_time_ordered_ids_are_version_7_and_sort_by_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """A new job id is an RFC 9562 version-7 UUID whose first 48 bits are the Unix time in
    milliseconds, so an id made a millisecond later sorts after it whatever its random bits."""
    clock = iter([1_764_000_000_000_000_000, 1_764_000_000_001_000_000])
    monkeypatch.setattr(notifications.time, "time_ns", lambda: next(clock))
    first, second = time_ordered_id(), time_ordered_id()
    parsed = uuid.UUID(first)
    assert (parsed.version, parsed.variant) == (7, uuid.RFC_4122)
    assert parsed.int >> 80 == 1_764_000_000_000
    assert first < second


@given(st.lists(texts, min_size=1, max_size=3), texts)
def test_ids_near_a_time_ordered_id_share_its_time(prefix: list[str], last: str) -> None:
    """Ids placed near a time-ordered id (a job's) take its first 48 bits, are version 8, and
    still depend only on their parts: the same parts near the same job give the same id."""
    job = time_ordered_id()
    made = stable_ids(*prefix, near=job)(last)
    parsed = uuid.UUID(made)
    assert (parsed.version, parsed.variant) == (8, uuid.RFC_4122)
    assert made[:13] == job[:13]
    assert made == stable_id(*prefix, last, near=job)
    assert made[14:] == stable_id(*prefix, last, near=job.replace(job[:13], "00000000-0000"))[14:]
    # near a version-8 id (a notification, for its deliveries) is the same place
    assert stable_id("delivery", made, "erp", near=made)[:13] == job[:13]


@pytest.mark.parametrize(
    "near",
    ["job-1", str(uuid.UUID(int=7, version=4)), "", "jobnames-0001-7000-8000-nothexdigits"],
)
def test_ids_near_anything_but_a_time_ordered_id_are_the_version_5_ones(near: str) -> None:
    """A job made before ids were time-ordered (a version-4 id) or named by a caller keeps the
    version-5 ids it was given then, so a job resumed across the upgrade finds what it stored."""
    assert stable_ids("rule", near, "T", near=near)("{}") == stable_id("rule", near, "T", "{}")
