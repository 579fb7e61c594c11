"""Admission: the records of a batch made ready to compare with the store.

Each record is validated, keyed, normalised and hashed into a ``Candidate``; a key the feed sent
before is a duplicate (the last one wins, with a notice); a bad record is rejected with its line
and the reason. A whole NDJSON line is first looked up by its hash among the lines that made the
stored snapshots: a line identical to one of them is unchanged and skips all of that work, even
parsing; its key and scope come from the store. Nothing here touches the store: the lookup is
passed in, per batch (``batch``) or, for a run that read every stored line hash of the kind at
once, as a ``LineIndex`` (``lines``). There the entities the index holds are known by their
position in it, and the feed's sight of them is a mark there rather than a key in ``seen``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import orjson
import xxhash

from deltahook.catalog.entities import EntityKind
from deltahook.changes import canonical
from deltahook.feeds import values
from deltahook.feeds.keys import readable_key
from deltahook.feeds.merge import merge_records, without_unsent
from deltahook.feeds.readers import Item, Line, LineBatch, Record, Reject
from deltahook.feeds.seen import SeenKeys
from deltahook.feeds.shapes import Shape, compile_shape
from deltahook.feeds.validate import Problem, RecordValidator
from deltahook.results import Mode, RunResult
from deltahook.store.lineindex import SEEN, LineIndex
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


# Key and scope of the stored entities made from lines with the given hashes, by hash.
KnownLines = Callable[[Sequence[bytes]], Mapping[bytes, tuple[str, str]]]
# An entity in a batch: its key, or (with a ``LineIndex``) its position there, or ~tag if none.
Ident = str | int


@dataclass(slots=True)
class Batch:
    """One batch after admission, by entity key.

    ``ready`` holds candidates, and in merge mode the records themselves (a merge record's
    result depends on the stored body, see ``Admission.merged``). While the batch is admitted,
    ``unchanged`` holds the scopes of the lines identical to stored ones and ``lines`` the other
    whole lines with their hashes, left for last as a later duplicate may replace them.
    ``indexed`` holds the position in the ``LineIndex`` of each key admitted by parsing.
    """

    ready: dict[Ident, Candidate | Record] = field(default_factory=dict)
    unchanged: dict[Ident, str] = field(default_factory=dict)
    lines: dict[Ident, tuple[Record, bytes]] = field(default_factory=dict)
    indexed: dict[str, int] = field(default_factory=dict)


@dataclass
class Admission:
    """Admits the records of one feed, batch by batch, counting into ``result``.

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
        self._index: LineIndex | None = None  # while ``lines`` admits a batch
        self._locate: Callable[[str, int], int]  # set by ``lines`` for the batch it admits

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

    def lines(
        self,
        batch: LineBatch,
        index: LineIndex,
        key_at: Callable[[int], str],
        locate: Callable[[str, int], int] | None = None,
    ) -> Batch:
        """Admit whole lines against ``index`` (not in merge mode); ``key_at`` reads the key of
        the entity at a position from the store (only to report a duplicate), ``locate`` the
        position of a parsed line's key and tag (``index.locate``; default: ``index.position``
        of the tag)."""
        digests = list(map(xxhash.xxh3_128_digest, batch.contents()))
        self.result.counts.received += len(digests)
        admitted = Batch()
        unchanged, numbers = admitted.unchanged, batch.numbers

        def other(i: int, at: int) -> None:
            """The ``i``-th line, unless it is identical to a stored line the feed had not
            carried yet (``index.admit`` took those): a repeat of one it had (at ``at``), or
            one to parse."""
            if at >= 0:
                self._repeated(at, key_at(at), numbers[i], admitted)
                unchanged[at] = ""
                return
            parsed = batch.parse(i)
            if isinstance(parsed, Reject):
                self._refuse(parsed, parsed.key)
            else:
                self._admit(parsed, admitted, digests[i])

        self._index = index
        self._locate = locate or (lambda _key, tag: index.position(tag))
        try:
            index.admit(digests, unchanged, other)
        finally:
            self._index = None
        if self.kind.scope:
            self.scopes.update(index.scopes(unchanged))  # type: ignore[arg-type]  # positions here
        self._settle(admitted)
        return admitted

    def batch(self, items: Sequence[Item | Line], known_lines: KnownLines) -> Batch:
        """Admit ``items``; ``known_lines`` finds the stored entities made from given lines."""
        hashes = self._line_hashes(items)
        wanted = [h for h in hashes if h is not None]
        known = known_lines(wanted) if wanted else {}
        batch = Batch()
        for item, line_hash in zip(items, hashes, strict=True):
            self.result.counts.received += 1
            hit = known.get(line_hash) if line_hash is not None else None
            if hit is not None:
                self._note_duplicate(hit[0], item.line, batch)
                batch.unchanged[hit[0]] = hit[1]
                continue
            parsed = item.parse() if isinstance(item, Line) else item
            if isinstance(parsed, Reject):
                self._refuse(parsed, parsed.key)
            else:
                self._admit(parsed, batch, line_hash)
        if self.kind.scope:
            self.scopes.update(batch.unchanged.values())
        self._settle(batch)
        return batch

    def _line_hashes(self, items: Sequence[Item | Line]) -> list[bytes | None]:
        # A merge record's effect depends on what is stored: only whole records may be
        # recognised as unchanged by their bytes alone.
        if self.mode == "merge":
            return [None] * len(items)
        digest = canonical.digest
        return [digest(item.content()) if isinstance(item, Line) else None for item in items]

    def _admit(self, record: Record, batch: Batch, line_hash: bytes | None) -> None:
        if not record.checked and (unfit := values.problem(record.data)) is not None:
            self._refuse(Reject(record.line, unfit.field, unfit.reason), record.data)
            return
        key = quick_key(self.kind, record.data) if line_hash is not None else None
        body = None
        if key is None:
            body = self._shape(record.data) if self._partial is None else None
            problem = (self._partial or self._full).problem(record.data) if body is None else None
            if problem is not None:
                self._refuse(Reject(record.line, problem.field, problem.reason), record.data)
                return
            key = canonical.entity_key(self.kind, record.data)
        ident = self._note_duplicate(key, record.line, batch)
        if line_hash is not None:
            batch.lines[ident] = (record, line_hash)
        elif self.mode == "merge":
            batch.ready[ident] = record
        elif (candidate := self.candidate(record.line, record.data, body=body)) is not None:
            batch.ready[ident] = candidate

    def _note_duplicate(self, key: str, line: int, batch: Batch) -> Ident:
        """Note a key the feed carries, reporting it if the feed sent it before; its ident.

        With an index, a key of a stored entity it holds is seen when its position is marked,
        any other key when its tag is in ``seen``.
        """
        tag = xxhash.xxh3_64_intdigest(key)
        index = self._index
        if index is None:
            if self.seen.add(tag):
                self._repeated(key, key, line, batch)
            return key
        at = self._locate(key, tag)
        if at < 0:
            if self.seen.add(tag):
                self._repeated(~tag, key, line, batch)
            return ~tag
        batch.indexed[key] = at
        if index.marks[at]:
            self._repeated(at, key, line, batch)
        else:
            index.marks[at] = SEEN
        return at

    def _repeated(self, ident: Ident, key: str, line: int, batch: Batch) -> None:
        """Report a key the feed sent before; a copy in this batch is dropped (the last wins).

        A copy in an earlier batch was applied (and any change of it notified) already: this one
        is applied over it, so the end state is the last copy's but both changes are notified.
        """
        self.result.counts.duplicates += 1
        here = [
            found.pop(ident, None) is not None
            for found in (batch.ready, batch.unchanged, batch.lines)
        ]
        if any(here):
            what = "the last one wins (the earlier copy in its batch was not applied)"
        else:
            what = (
                "the last one wins, but an earlier copy was applied with an earlier batch (and "
                "its change notified): this one is applied over it"
            )
        self.result.notice(f"line {line}: duplicate key {key!r} in this feed; {what}")

    def _settle(self, batch: Batch) -> None:
        """Count the lines identical to the line that made their stored snapshot as unchanged;
        validate, normalise and hash the other whole lines.

        An identical line cannot change the snapshot, so it is neither parsed nor validated nor
        normalised nor hashed again: the cheapest path for a nightly feed where almost nothing
        changed.
        """
        self.result.counts.unchanged += len(batch.unchanged)
        batch.unchanged.clear()
        # Taken from the end of a reversed list, each parsed record is freed as soon as its
        # candidate is made, while it is still in the CPU's cache: freeing the batch's records
        # all at once after it cost a twentieth of a first load (one cache miss per object).
        waiting = list(batch.lines.items())
        batch.lines.clear()
        waiting.reverse()
        while waiting:
            key, (record, line_hash) = waiting.pop()
            body = self._shape(record.data)
            problem = self._full.problem(record.data) if body is None else None
            if problem is not None:
                self._refuse(Reject(record.line, problem.field, problem.reason), record.data)
            elif (candidate := self.candidate(record.line, record.data, body=body)) is not None:
                candidate.line_hash = line_hash
                batch.ready[key] = candidate

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
            self._refuse(Reject(line, exc.field, str(exc).split(": ", 1)[1]), data, into=into)
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
            merged = merge_records(self.kind, base, without_unsent(self.kind, record.data))
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


def quick_key(kind: EntityKind, data: dict[str, Any]) -> str | None:
    """The entity key of an unvalidated record, or None when its key fields are not scalars."""
    if len(kind.key) == 1:  # most kinds: no list (``key_string`` of one value is its part)
        value = data.get(kind.key[0])
        if value is None or isinstance(value, dict | list):
            return None
        return canonical.key_part(value)
    values = [data.get(name) for name in kind.key]
    for value in values:
        if value is None or isinstance(value, dict | list):
            return None
    return canonical.key_string(values)
