"""What a job decided: a group is given an id once per job, and a batch rolled back forgets
what it decided, its ids included; alike kept in memory and past ``IN_MEMORY`` (a temporary
database)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from deltahook.notifications import JobIds, time_ordered_id
from deltahook.rules.decided import IN_MEMORY, Decided

SKU = "SkuChangedNotification"


@pytest.fixture(params=[IN_MEMORY, 1, 0], ids=["set", "spilled-later", "spilled-at-once"])
def decided(request: pytest.FixtureRequest) -> Iterator[Decided]:
    made = Decided(time_ordered_id(), in_memory=request.param)
    yield made
    made.close()


def test_a_group_is_given_an_id_once(decided: Decided) -> None:
    """New groups take the job's next ids in order; one decided before, in this batch or a
    kept one, takes none; the same identity under another type is another group."""
    expected = JobIds(decided.job_id)
    first = decided.fresh([(SKU, b"A"), (SKU, b"B")])
    assert first == [expected.take(), expected.take()]
    assert decided.fresh([(SKU, b"B"), (SKU, b"C")]) == [None, expected.take()]
    decided.end_batch(kept=True)
    assert decided.fresh([(SKU, b"A"), ("TranslationRequestedNotification", b"A")]) == [
        None,
        expected.take(),
    ]


def test_a_batch_rolled_back_is_forgotten(decided: Decided) -> None:
    """What a batch decided and its ids are given again after it was rolled back; what the
    batches kept before it stays decided."""
    kept = decided.fresh([(SKU, b"A")])
    decided.end_batch(kept=True)
    lost = decided.fresh([(SKU, b"B"), (SKU, b"C")])
    decided.end_batch(kept=False)
    assert decided.fresh([(SKU, b"C"), (SKU, b"B"), (SKU, b"A")]) == [*lost, None]
    assert kept[0] not in lost


def test_many_groups_in_one_batch(decided: Decided) -> None:
    """More groups than one look-up statement takes are all found again."""
    groups = [(SKU, str(i).encode()) for i in range(1_234)]
    assert None not in decided.fresh(groups)
    decided.end_batch(kept=True)
    assert decided.fresh(groups) == [None] * len(groups)


def test_past_its_share_of_memory_it_moves_to_a_temporary_database() -> None:
    """The digest that takes it past ``in_memory`` moves the set into the temporary database
    at once, in the middle of a batch: what earlier batches kept stays decided there, and
    the batch's own are still forgotten if it is rolled back."""
    decided = Decided(time_ordered_id(), in_memory=2)
    decided.fresh([(SKU, b"A"), (SKU, b"B")])
    decided.end_batch(kept=True)
    assert decided._db is None
    given = decided.fresh([(SKU, b"C")])
    assert decided._db is not None
    assert not decided._seen
    decided.end_batch(kept=False)
    assert decided.fresh([(SKU, b"A"), (SKU, b"C"), (SKU, b"B")]) == [None, *given, None]
    decided.close()
