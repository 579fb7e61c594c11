"""A run's ``LineIndex``: read when it beats a query per batch, dropped for good once stale.

A full feed reads the kind's stored line hashes once (``store/lineindex.py``) and admits its
lines against them; the entities a batch rewrites are marked ``DEAD`` in it; another writer's
commit makes it stale, and the run then goes back to asking the store per batch. What is left
of it at the end is handed to the sweep.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy import Connection

from deltahook.admission import Admission
from deltahook.catalog.entities import EntityKind
from deltahook.results import Mode, RunResult
from deltahook.store import snapshots
from deltahook.store.lineindex import LineIndex

_SMALL_STORE = 4  # batches' worth of stored entities: an index of them is cheap whatever the feed


class RunIndex:
    """The line index of one run of a feed of ``kind``, if it has one."""

    def __init__(
        self,
        *,
        kind: EntityKind,
        mode: Mode,
        admission: Admission,
        result: RunResult,
        batch_size: int,
    ) -> None:
        self._kind = kind
        self._admission = admission
        self._result = result
        self._batch_size = batch_size
        self._index: LineIndex | None = None
        # Whether to read a LineIndex: a full feed only (a delta feed may be a few lines
        # against a large store); decided at its first batch (a scoped kind's at its second).
        self._indexing: bool | None = None if mode == "full" else False

    def current(self, conn: Connection) -> LineIndex | None:
        """The run's LineIndex if it has a fresh one, first thing in a batch's transaction.

        One that another connection's commit made stale is dropped for good: the feed's sight
        of its entities goes back into ``seen``, and the run asks the store per batch.
        """
        if self._index is not None and not self._index.freshness.fresh(conn):
            self._drop()
        if self._indexing is None:
            self._indexing = self._worth_an_index(conn)
            if self._indexing:
                kind = self._kind
                scoped, job = bool(kind.scope), self._result.job_id
                self._index = LineIndex.read(conn, kind.name, scoped=scoped, job_id=job)
                self._index.mark_seen(self._admission.seen.tags())
        return self._index

    @property
    def undecided(self) -> bool:
        """Whether the run may yet read an index (at its next batch, or the one after)."""
        return self._indexing is None

    @staticmethod
    def rewritten(index: LineIndex, keys: Iterable[str], indexed: Mapping[str, int]) -> None:
        """Mark DEAD the indexed entities a batch rewrote: their stored line is another one now."""
        for key in keys:
            if (at := indexed.get(key)) is not None:
                index.rewrote(key, at)

    def for_sweep(self, conn: Connection) -> LineIndex | None:
        """The index to hand over to the sweep, if it is still fresh."""
        if self._index is not None and not self._index.freshness.fresh(conn):
            self._drop()
        return self._index

    def _drop(self) -> None:
        assert self._index is not None
        self._admission.seen.update(self._index.seen_tags())
        self._index = None
        self._indexing = False

    def _worth_an_index(self, conn: Connection) -> bool | None:
        """Whether reading the kind's line hashes once beats a query per batch (None: not yet).

        A full feed of an unscoped kind carries the whole kind, whose keys its sweep reads anyway,
        and so does any feed into a small store. One of a scoped kind may cover a few of many
        scopes (one warehouse's stock): its first batch, read with queries, shows its scopes, and
        an index is read if they hold half the kind.
        """
        if not self._kind.scope:
            return True
        kind = self._kind.name
        stored = snapshots.count_in_scope(conn, kind, None)
        if stored <= _SMALL_STORE * self._batch_size:
            return True
        if self._result.counts.received == 0:
            return None
        return 2 * snapshots.count_in_scope(conn, kind, self._admission.scopes) >= stored
