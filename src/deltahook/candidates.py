"""Candidates: one record validated, normalised, keyed and hashed into a ``Candidate``, or
rejected with its line, field and reason (a key, parent key or scope too long for the store's
key columns is rejected too, naming its longest field).

``RecordAdmission`` holds what admitting a feed keeps for its whole length (the keys it sent
and kept from the sweep, the scopes it covered) and does the record-level work: ``candidate``
for a record, ``merged`` for merge records applied to their stored bodies, ``_refuse`` for a
reject. ``admission.Admission`` builds on it to admit whole batches and lines. Nothing here
touches the store.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import orjson
import xxhash

from deltahook.catalog.entities import EntityKind
from deltahook.changes import canonical
from deltahook.feeds.keys import readable_key
from deltahook.feeds.merge import merge_records, without_unsent
from deltahook.feeds.readers import Record, Reject
from deltahook.feeds.seen import SeenKeys
from deltahook.feeds.shapes import Shape, compile_shape
from deltahook.feeds.validate import Problem, RecordValidator
from deltahook.results import Mode, RunResult
from deltahook.store.snapshots import Stored
from deltahook.store.tables import KEY_LENGTH

# The body of a candidate in a run that reads none after admission (``Admission.bodies``).
NOT_KEPT: dict[str, Any] = {}  # never written to


@dataclass(slots=True)
class Candidate:
    """A record made ready to compare: its key, canonical body and hash (or None to delete).

    ``refs`` are the (kind, key) pairs the body names, for a kind with references (see
    ``catalog.references``); collected while the body is fresh from normalising.
    """

    line: int
    key: str
    parent_key: str | None
    scope: str
    body: dict[str, Any] | None
    data: bytes = b""
    hash: bytes = b""
    line_hash: bytes | None = None
    refs: set[tuple[str, str]] | None = None


@dataclass
class RecordAdmission:
    """Makes the records of one feed candidates or rejects them, counting into ``result``.

    ``seen``, ``kept`` and ``scopes`` grow over the whole feed: a full feed's sweep needs every
    key it sent, the keys of its rejected records (never swept) and every scope it covered.
    """

    kind: EntityKind
    mode: Mode
    result: RunResult
    seen: SeenKeys = field(default_factory=SeenKeys)
    kept: SeenKeys = field(default_factory=SeenKeys)
    scopes: set[str] = field(default_factory=set)
    # False when nothing reads a candidate's body after admission (a baseline that diffs
    # nothing): its body is then ``NOT_KEPT``, freed while it is still in the CPU's cache, not
    # with its write batch (a twentieth of a first load's CPU, one cache miss per object).
    bodies: bool = True

    def __post_init__(self) -> None:
        self._partial = RecordValidator(self.kind, partial=True) if self.mode == "merge" else None

    # The validator and the fast path are made for the first record parsed: a feed whose lines
    # are all identical to stored ones needs neither (loading and compiling them cost about 2%
    # of its ingest at 100k SKUs), and a record the fast path takes never needs the validator.

    @cached_property
    def _full(self) -> RecordValidator:
        return RecordValidator(self.kind)

    @cached_property
    def _shape(self) -> Shape:
        """Checks and normalises a whole record at once when it can (see ``feeds.shapes``)."""
        return compile_shape(self.kind) or _no_shape

    def candidate(
        self,
        line: int,
        data: dict[str, Any],
        *,
        into: RunResult | None = None,
        body: dict[str, Any] | None = None,
    ) -> Candidate | None:
        """``data`` normalised (unless its canonical ``body`` is given), keyed and hashed; None
        (and a reject, counted ``into`` the given result or the run's) if it cannot be."""
        try:
            body = canonical.normalise(self.kind, data) if body is None else body
        except canonical.NormaliseError as exc:
            self._refuse(Reject(line, exc.field, exc.reason), data, into=into)
            return None
        key = canonical.entity_key(self.kind, body)
        parent = canonical.parent_key(self.kind, body)
        scope = canonical.scope_string(self.kind, body)
        if (  # nearly always short: no search for the longest field
            len(key) > KEY_LENGTH
            or len(scope) > KEY_LENGTH
            or (parent is not None and len(parent) > KEY_LENGTH)
        ) and (too_long := _too_long(self.kind, body, key, parent, scope)) is not None:
            self._refuse(Reject(line, too_long.field, too_long.reason), data, into=into)
            return None
        self.scopes.add(scope)
        raw = canonical.kept(canonical.canonical_bytes(body))  # kept with the batch
        refs = self.kind.referenced(body) if self.kind.references else None
        kept = body if self.bodies else NOT_KEPT
        return Candidate(line, key, parent, scope, kept, raw, canonical.digest(raw), refs=refs)

    def _refuse(
        self,
        reject: Reject,
        data: Mapping[str, Any] | str | None,
        *,
        into: RunResult | None = None,
    ) -> None:
        """Reject a record. In a full feed its entity is kept from the sweep; when its key is
        unknown (``data`` is the record, or the key as the reader read it), nothing is swept."""
        if self.mode == "full":
            key = readable_key(self.kind, data) if isinstance(data, Mapping) else data
            if key is None:
                reason = f"{reject.reason}; its key is unknown, so the sweep did not run"
                reject = Reject(reject.line, reject.field, reason)
                (into or self.result).unkeyed(reject.line)
            else:
                self.kept.add(xxhash.xxh3_64_intdigest(key))
        (into or self.result).reject(reject)

    def merged(
        self,
        records: Mapping[str, Candidate | Record],
        stored: Mapping[str, Stored],
        *,
        into: RunResult,
    ) -> list[Candidate]:
        """Merge records (by entity key) applied to their stored bodies, each merged whole
        validated again; rejects are counted ``into`` the batch's tally (a retried batch counts
        them once)."""
        out: list[Candidate] = []
        for key, record in records.items():
            assert isinstance(record, Record)
            old = stored.get(key)
            base = (
                canonical.denormalise(self.kind, orjson.loads(old.body)) if old and old.body else {}
            )
            try:
                merged = merge_records(self.kind, base, without_unsent(self.kind, record.data))
            except canonical.NormaliseError as exc:
                self._refuse(Reject(record.line, exc.field, exc.reason), record.data, into=into)
                continue
            body = self._shape(merged)
            problem = self._full.problem(merged) if body is None else None
            if problem is not None:
                reason = f"after merging: {problem.reason}"
                self._refuse(Reject(record.line, problem.field, reason), record.data, into=into)
            elif (
                candidate := self.candidate(record.line, merged, into=into, body=body)
            ) is not None:
                out.append(candidate)
        return out


def _too_long(
    kind: EntityKind, body: Mapping[str, Any], key: str, parent: str | None, scope: str
) -> Problem | None:
    """A key, parent key or scope longer than the store's key columns hold, by its longest field."""
    for what, text, fields in (
        ("entity key", key, kind.key),
        ("parent key", parent or "", kind.parent.fields if kind.parent else ()),
        ("scope", scope, kind.scope),
    ):
        if len(text) > KEY_LENGTH:
            field = max(fields, key=lambda name: len(str(body.get(name, ""))))
            return Problem(field, f"the {what} is longer than {KEY_LENGTH} characters")
    return None


def _no_shape(_record: Any) -> dict[str, Any] | None:
    """The fast path of a kind whose schema has none: every record goes the slow way."""
    return None
