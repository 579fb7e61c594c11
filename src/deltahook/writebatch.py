"""A run's write batch: the changed and new records of several read batches, stored together.

A read batch of a nightly feed (1% changed) holds a few changes among thousands of lines, and
committing each read batch's on its own made the commits themselves (the pages of every index
they touch in the WAL, the job's row, the queries each write repeats) a fifth of the ingest.
The run collects the records a read batch admitted as changed or new here instead, and writes
and commits them (``Run._flush``) once this batch is ``full``: it holds ``max_changes`` records
or ``max_bytes`` of their canonical bodies (memory stays flat), or its first record has waited
``max_wait`` on the run's clock (a feed that trickles in does not sit uncommitted). The run
also flushes it before a record that repeats a key it holds (the feed's order says the earlier
copy is applied, and notified, first), when the job's lease is due, when the feed waits for
more of a stream, at the end of the feed and before the sweep.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from deltahook.candidates import Candidate
from deltahook.feeds.readers import Record

MAX_BYTES = 32 << 20  # of canonical bodies: a write batch of large records commits sooner
# A wait of 1 s tied the commits to the machine's speed (100-250 of them for a 1M-SKU feed on
# a loaded machine, each ~10 ms of CPU; at 1% changed, 5 would do): a stalled upload is committed
# by ``Run.idle`` anyway, the wait is for a feed that keeps trickling in.
MAX_WAIT = timedelta(seconds=10)


class WriteBatch:
    """The records waiting to be written, by entity key, in the order the feed gave them."""

    def __init__(
        self, *, max_changes: int, max_bytes: int = MAX_BYTES, max_wait: timedelta = MAX_WAIT
    ) -> None:
        self.max_changes = max_changes
        self.max_bytes = max_bytes
        self.max_wait = max_wait
        self._items: dict[str, Candidate | Record] = {}
        self._bytes = 0
        self._since: datetime | None = None

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def repeats(self, keys: Iterable[str]) -> bool:
        """Whether any of ``keys`` is waiting here already."""
        items = self._items
        return bool(items) and any(key in items for key in keys)

    def add(self, ready: Mapping[str, Candidate | Record], now: datetime) -> None:
        """Add a read batch's records (none of whose keys ``repeats`` one waiting here)."""
        if not ready:
            return
        if self._since is None:
            self._since = now
        self._items.update(ready)
        self._bytes += sum(len(item.data) for item in ready.values() if isinstance(item, Candidate))

    def full(self, now: datetime) -> bool:
        """Whether the batch should be written now (see the module)."""
        if not self._items:
            return False
        if len(self._items) >= self.max_changes or self._bytes >= self.max_bytes:
            return True
        assert self._since is not None
        return now - self._since >= self.max_wait

    def take(self) -> dict[str, Candidate | Record]:
        """The waiting records by entity key, in order; the batch is empty after."""
        items = self._items
        self._items = {}
        self._bytes = 0
        self._since = None
        return items
