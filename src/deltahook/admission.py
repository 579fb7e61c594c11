"""Admission: the records of a batch made ready to compare with the store.

Each record is validated, keyed, normalised and hashed into a ``Candidate``; a key the feed sent
before is a duplicate (the last one wins, with a notice); a bad record is rejected with its line
and the reason. A whole NDJSON line waits in ``Batch.verbatim`` until the caller has fetched the
stored line hashes of its keys: a line identical to the one that made the stored snapshot is
unchanged and skips all of that work (``Admission.settle``). Nothing here touches the store.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import xxhash

from deltahook.catalog.entities import EntityKind
from deltahook.changes import canonical
from deltahook.feeds.merge import merge_records, without_unsent
from deltahook.feeds.readers import Item, Record, Reject
from deltahook.feeds.seen import SeenKeys
from deltahook.feeds.validate import RecordValidator
from deltahook.results import Mode, RunResult
from deltahook.store.snapshots import Stored


@dataclass(slots=True)
class Candidate:
    """A record made ready to compare: its key, canonical body and hash (or None to delete)."""

    line: int
    key: str
    parent_key: str | None
    scope: str
    body: dict[str, Any] | None
    data: bytes = b""
    hash: bytes = b""
    line_hash: bytes | None = None


@dataclass(slots=True)
class Batch:
    """One batch after admission, by entity key.

    ``ready`` holds candidates, and in merge mode the records themselves (a merge record's
    result depends on the stored body, see ``Admission.merged``); ``verbatim`` the whole lines
    still to be checked against the stored line hashes.
    """

    ready: dict[str, Candidate | Record] = field(default_factory=dict)
    verbatim: dict[str, Record] = field(default_factory=dict)


@dataclass
class Admission:
    """Admits the records of one feed, batch by batch, counting into ``result``.

    ``seen`` and ``scopes`` grow over the whole feed: a full feed's sweep needs every key it
    sent and every scope it covered.
    """

    kind: EntityKind
    mode: Mode
    result: RunResult
    seen: SeenKeys = field(default_factory=SeenKeys)
    scopes: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._full = RecordValidator(self.kind)
        self._partial = RecordValidator(self.kind, partial=True) if self.mode == "merge" else None
        # A merge record's effect depends on what is stored, so only whole records may be
        # recognised as unchanged by their bytes alone.
        self._by_line = self.mode != "merge"

    def batch(self, items: Sequence[Item]) -> Batch:
        batch = Batch()
        for item in items:
            self.result.counts.received += 1
            if isinstance(item, Reject):
                self.result.reject(item)
            else:
                self._admit(item, batch)
        return batch

    def _admit(self, record: Record, batch: Batch) -> None:
        key = quick_key(self.kind, record.data) if self._by_line else None
        if key is None or record.raw is None:
            problem = (self._partial or self._full).problem(record.data)
            if problem is not None:
                self.result.reject(Reject(record.line, problem.field, problem.reason))
                return
            key = canonical.entity_key(self.kind, record.data)
        self._note_duplicate(key, record.line, batch)
        if record.raw is not None and self._by_line:
            batch.verbatim[key] = record
        elif self.mode == "merge":
            batch.ready[key] = record
        elif (candidate := self.candidate(record.line, record.data)) is not None:
            batch.ready[key] = candidate

    def _note_duplicate(self, key: str, line: int, batch: Batch) -> None:
        if self.seen.add(xxhash.xxh3_64_intdigest(key)):
            self.result.counts.duplicates += 1
            self.result.notice(
                f"line {line}: duplicate key {key!r} in this feed; the last one wins"
            )
            batch.ready.pop(key, None)
            batch.verbatim.pop(key, None)

    def settle(self, batch: Batch, stored: Mapping[str, bytes | None]) -> None:
        """Count the lines of ``batch.verbatim`` byte-identical to the line that made their
        stored snapshot (``stored``: line hashes by key) as unchanged; admit the others.

        An identical line cannot change the snapshot, so it is neither validated again nor
        normalised nor hashed: the cheapest path for a nightly feed where almost nothing
        changed.
        """
        for key, record in batch.verbatim.items():
            assert record.raw is not None
            line_hash = canonical.digest(record.raw)
            if stored.get(key) == line_hash:
                self.result.counts.unchanged += 1
                if self.kind.scope:
                    self.scopes.add(canonical.scope_string(self.kind, record.data))
                continue
            problem = self._full.problem(record.data)
            if problem is not None:
                self.result.reject(Reject(record.line, problem.field, problem.reason))
            elif (candidate := self.candidate(record.line, record.data)) is not None:
                candidate.line_hash = line_hash
                batch.ready[key] = candidate
        batch.verbatim.clear()

    def candidate(self, line: int, data: dict[str, Any]) -> Candidate | None:
        """``data`` normalised, keyed and hashed; None (and a reject) if it cannot be."""
        try:
            body = canonical.normalise(self.kind, data)
        except canonical.NormaliseError as exc:
            self.result.reject(Reject(line, exc.field, str(exc).split(": ", 1)[1]))
            return None
        scope = canonical.scope_string(self.kind, body)
        self.scopes.add(scope)
        raw = canonical.canonical_bytes(body)
        return Candidate(
            line,
            canonical.entity_key(self.kind, body),
            canonical.parent_key(self.kind, body),
            scope,
            body,
            raw,
            canonical.digest(raw),
        )

    def merged(
        self, records: Sequence[Candidate | Record], stored: Mapping[str, Stored]
    ) -> list[Candidate]:
        """Merge records applied to their stored bodies, each merged whole validated again."""
        out: list[Candidate] = []
        for record in records:
            assert isinstance(record, Record)
            old = stored.get(canonical.entity_key(self.kind, record.data))
            base = (
                canonical.denormalise(self.kind, orjson.loads(old.body)) if old and old.body else {}
            )
            merged = merge_records(self.kind, base, without_unsent(self.kind, record.data))
            problem = self._full.problem(merged)
            if problem is not None:
                reason = f"after merging: {problem.reason}"
                self.result.reject(Reject(record.line, problem.field, reason))
            elif (candidate := self.candidate(record.line, merged)) is not None:
                out.append(candidate)
        return out


def quick_key(kind: EntityKind, data: dict[str, Any]) -> str | None:
    """The entity key of an unvalidated record, or None when its key fields are not scalars."""
    values = [data.get(name) for name in kind.key]
    if any(v is None or isinstance(v, dict | list) for v in values):
        return None
    return canonical.key_string(values)


def key_of(kind: EntityKind, item: Candidate | Record) -> str:
    return item.key if isinstance(item, Candidate) else canonical.entity_key(kind, item.data)
