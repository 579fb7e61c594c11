"""SeenKeys behaves as a set of 64-bit integers, however its storage is split."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from deltahook.feeds.seen import SeenKeys

tags = st.integers(0, 2**64 - 1)


@given(st.lists(tags | st.integers(0, 20), max_size=200), st.integers(1, 16))
def test_it_answers_like_a_set(values: list[int], limit: int) -> None:
    """add() reports earlier sight exactly as a set would, across compactions."""
    seen, reference = SeenKeys(recent_limit=limit), set[int]()
    for value in values:
        assert seen.add(value) == (value in reference)
        reference.add(value)
    assert len(seen) == len(reference)
    assert all(value in seen for value in reference)
    assert (2**64 - 1 in seen) == (2**64 - 1 in reference)
