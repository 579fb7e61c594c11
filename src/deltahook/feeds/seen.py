"""The keys a feed has carried so far, for duplicate reports and the full-feed sweep.

A Python ``set`` of a million 64-bit key hashes takes about 77 MB; this keeps them in a sorted
``array`` of 8 bytes each plus a bounded set of recent ones, so a feed's memory stays flat as
it grows. Lookups are a set probe and a binary search.
"""

from __future__ import annotations

import heapq
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from itertools import chain

RECENT_LIMIT = 1 << 18


class SeenKeys:
    """A growing set of 64-bit integers in about 8 bytes each."""

    def __init__(self, *, recent_limit: int = RECENT_LIMIT) -> None:
        self._sorted = array("Q")
        self._recent: set[int] = set()
        self._limit = recent_limit

    def add(self, tag: int) -> bool:
        """Add ``tag``; True when it was there already."""
        if tag in self._recent or (self._sorted and self._in_sorted(tag)):
            return True
        self._recent.add(tag)
        if len(self._recent) >= self._limit:
            self._sorted = array("Q", heapq.merge(self._sorted, sorted(self._recent)))
            self._recent = set()
        return False

    def update(self, tags: Iterable[int]) -> None:
        for tag in tags:
            self.add(tag)

    def tags(self) -> Iterator[int]:
        """Every tag added, in no particular order."""
        return chain(self._sorted, self._recent)

    def __contains__(self, tag: object) -> bool:
        return tag in self._recent or (isinstance(tag, int) and self._in_sorted(tag))

    def _in_sorted(self, tag: int) -> bool:
        index = bisect_left(self._sorted, tag)
        return index < len(self._sorted) and self._sorted[index] == tag

    def __len__(self) -> int:
        return len(self._sorted) + len(self._recent)
