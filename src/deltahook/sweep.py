"""A full feed's sweep: the stored entities of its scope that it left out are deactivated or
deleted, as the kind declares.

Never an entity whose record the feed carried, even a rejected one; not at all when a rejected
record's key is unknown (any entity might be its); and nothing when it would remove more of
the scope than the feed's ``max_remove`` allows (then the run fails with ``SweepRefusedError``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial

import orjson
import xxhash
from sqlalchemy import Connection

from deltahook.admission import Admission
from deltahook.candidates import Candidate
from deltahook.catalog.entities import EntityKind
from deltahook.changes import canonical
from deltahook.errors import SweepRefusedError
from deltahook.feeds.limits import RemovalLimit
from deltahook.results import RunResult
from deltahook.store import snapshots
from deltahook.store.lineindex import LineIndex


@dataclass(kw_only=True)
class Sweep:
    """The sweep at the end of one full feed; ``apply`` stores a batch of removals."""

    conn: Connection
    kind: EntityKind
    admission: Admission
    result: RunResult
    limit: RemovalLimit
    batch_size: int
    commit: bool
    # Stores a batch of removals by key, calling the function again for each attempt.
    apply: Callable[[Callable[[], Mapping[str, Candidate]]], None]
    index: LineIndex | None = None  # fresh: the feed's sight of the entities it holds

    def run(self) -> None:
        """Sweep, or record why not (``result.sweep``); raise when over the limit."""
        if self.result.unkeyed_lines:
            self.result.sweep = "skipped"
            return
        in_scope, missing = self._missing()
        self._guard(in_scope, missing)
        for keys in self._batches(missing):
            self.apply(partial(self._removals, keys, locked=True))  # read again on a retry
        self.result.sweep = "swept"

    def _missing(self) -> tuple[int, list[str]]:
        """How many stored entities the scope holds (0, not counted, when none is missing), and
        the keys of those the feed left out."""
        if self.index is not None:
            return self._missing_from(self.index)
        admitted = self.admission
        scopes = admitted.scopes if self.kind.scope else None
        seen, kept = admitted.seen, admitted.kept if len(admitted.kept) else ()
        in_scope = 0
        missing = []
        for key in snapshots.keys_in_scope(self.conn, self.kind.name, scopes):
            in_scope += 1
            tag = xxhash.xxh3_64_intdigest(key)
            if tag not in seen and tag not in kept:
                missing.append(key)
        return in_scope, missing

    def _missing_from(self, index: LineIndex) -> tuple[int, list[str]]:
        """``_missing`` from the index's marks: the entities it holds that the feed did not
        carry, and those it does not hold (stored without a line hash) found in the store.

        The keys come in the order of ``keys_in_scope`` (by key, within each chunk of scopes).
        """
        admitted = self.admission
        scopes = admitted.scopes if self.kind.scope else None
        seen, kept = admitted.seen, admitted.kept if len(admitted.kept) else ()
        kind = self.kind.name
        unseen = [at for at in index.unseen(scopes) if index.tag(at) not in kept]
        found = snapshots.known_lines(self.conn, kind, [index.line_hash(at) for at in unseen])
        rows = list(found.values())
        for key, scope in snapshots.keys_without_line(self.conn, kind, scopes):
            tag = xxhash.xxh3_64_intdigest(key)
            if tag not in seen and tag not in kept:
                rows.append((key, scope))
        chunk = snapshots.scope_chunks(scopes)
        rows.sort(key=lambda row: (chunk.get(row[1], 0), row[0]))
        in_scope = snapshots.count_in_scope(self.conn, kind, scopes) if rows else 0
        return in_scope, [key for key, _ in rows]

    def _guard(self, in_scope: int, missing: list[str]) -> None:
        """Refuse a sweep that would remove more than the limit allows.

        Entities removed already (deactivated by an earlier feed) are no removal and count
        neither among those removed nor in the scope.
        """
        if not missing:
            return  # no limit refuses removing none (the scope need not be counted)
        empty = not self.result.counts.received
        limit = self.limit.for_empty_feed() if empty else self.limit
        if limit.allows(len(missing), in_scope):
            return  # even if every missing entity changed, the share is within the limit
        removing = sum(len(self._removals(keys)) for keys in self._batches(missing))
        of = in_scope - len(missing) + removing
        if limit.allows(removing, of):
            return
        self.result.sweep = "refused"
        verb = "delete" if self.kind.on_missing == "delete" else "deactivate"
        raise SweepRefusedError(
            job_id=self.result.job_id,
            kind=self.kind.name,
            verb=verb,
            removing=removing,
            of=of,
            limit=self.limit,
            preview=not self.commit,
            empty=empty,
        )

    def _batches(self, keys: list[str]) -> list[list[str]]:
        size = self.batch_size
        return [keys[start : start + size] for start in range(0, len(keys), size)]

    def _removals(self, keys: list[str], *, locked: bool = False) -> dict[str, Candidate]:
        """What removing ``keys`` writes, in their order: an entity deactivated already (by an
        earlier feed) is left out, as it is no change (nor counted as one unchanged).

        ``locked``: their rows stay locked until the batch that writes them commits, so that a
        deactivation, made from the body read here, never undoes an ingest's write in between.
        """
        stored = snapshots.fetch(self.conn, self.kind.name, keys, bodies=True, locked=locked)
        gone: dict[str, Candidate] = {}
        # In the order of ``keys``: PostgreSQL returns the rows in no particular order.
        for key, entry in ((key, stored[key]) for key in keys if key in stored):
            assert entry.body is not None
            body = orjson.loads(entry.body)
            if self.kind.on_missing == "delete":
                parent = canonical.parent_key(self.kind, body)
                gone[key] = Candidate(0, key, parent, "", None)
                continue
            deactivated = canonical.denormalise(self.kind, body) | dict(self.kind.deactivate)
            candidate = self.admission.candidate(0, deactivated)
            if candidate is not None and candidate.hash != entry.hash:
                gone[key] = candidate
        return gone
