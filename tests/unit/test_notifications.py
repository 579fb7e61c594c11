"""Ids: stable ones (the same parts always give the same UUID, the one ``uuid.uuid5`` gives, or
near a job its time-ordered variant), new time-ordered ones, and a job's ids in order, with
its deliveries' beside them."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deltahook import notifications
from deltahook.notifications import (
    _NAMESPACE,
    SLOTS,
    JobIds,
    delivery_id,
    stable_id,
    time_ordered_id,
)

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
    made = stable_id(*prefix, last, near=job)
    parsed = uuid.UUID(made)
    assert (parsed.version, parsed.variant) == (8, uuid.RFC_4122)
    assert made[:13] == job[:13]
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
    assert stable_id("rule", near, "T", "{}", near=near) == stable_id("rule", near, "T", "{}")


def _is_version_8(text: str) -> bool:
    parsed = uuid.UUID(text)
    return str(parsed) == text and (parsed.version, parsed.variant) == (8, uuid.RFC_4122)


@pytest.mark.parametrize("job", [time_ordered_id(), "job-1", str(uuid.UUID(int=7, version=4))])
def test_a_jobs_ids_sort_in_the_order_given(job: str) -> None:
    """A job's notification ids are version-8 UUIDs that sort in the order they were given,
    all with one prefix of their own (a time-ordered job's first 80 bits, version aside)."""
    ids = JobIds(job)
    made = [ids.take() for _ in range(3 * SLOTS)]
    assert all(map(_is_version_8, made))
    assert made == sorted(made)
    assert len(set(made)) == len(made)
    assert {m[:26] for m in made} == {made[0][:26]}
    assert made[0][:26] != JobIds(time_ordered_id()).take()[:26]
    if job[14:15] == "7":  # time-ordered: the job's time
        assert made[0][:13] == job[:13]


def test_jobs_of_one_millisecond_get_ids_of_their_own() -> None:
    """Two time-ordered job ids of one millisecond that differ only in their last bits (a
    generator's counter, as ``uuid.uuid7`` of Python 3.14 makes them) give other ids."""
    first = JobIds("01936f1e-2a40-7abc-8def-000000000001")
    second = JobIds("01936f1e-2a40-7abc-8def-000000000002")
    assert first.take() != second.take()


def test_ids_rewind_to_a_count_given_before() -> None:
    """Setting ``next`` back (a batch rolled back) gives the same ids again."""
    ids = JobIds(time_ordered_id())
    first = [ids.take() for _ in range(3)]
    ids.next = 1
    assert [ids.take() for _ in range(2)] == first[1:]


def test_a_jobs_deliveries_sort_by_notification_then_slot() -> None:
    """Deliveries of a job's notifications: version-8 UUIDs, one per notification and slot,
    sorted as their notifications and then by slot, never a notification's own id."""
    ids = JobIds(time_ordered_id())
    notes = [ids.take() for _ in range(50)]
    made = [delivery_id(n, slot, f"sub-{slot}") for n in notes for slot in range(3)]
    assert all(map(_is_version_8, made))
    assert made == sorted(made)
    assert len(set(made)) == len(made)
    assert not set(made) & set(notes)


@pytest.mark.parametrize(
    ("notification", "slot"),
    [
        (stable_id("emit", "OrderConfirmedEvent", "key-1"), 0),  # an event's id, not a job's
        (time_ordered_id()[:-2] + "01", 1),
        (JobIds(time_ordered_id()).take(), SLOTS),  # past the slots an id leaves room for
    ],
)
def test_other_deliveries_take_a_stable_id_near_their_notification(
    notification: str, slot: int
) -> None:
    """A delivery of a notification ``JobIds`` did not give, or past its slots, has the stable id
    of notification and subscription."""
    expected = stable_id("delivery", notification, "erp", near=notification)
    assert delivery_id(notification, slot, "erp") == expected
