"""What a job decided: a group is given an id once per job, and a batch rolled back forgets
what it decided, its ids included."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from deltahook.notifications import JobIds, time_ordered_id
from deltahook.rules.decided import Decided

SKU = "SkuChangedNotification"


@pytest.fixture
def decided() -> Iterator[Decided]:
    made = Decided(time_ordered_id())
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
