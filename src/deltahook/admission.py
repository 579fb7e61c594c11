"""Admission: the records of a batch made ready to compare with the store.

Each record is validated, keyed, normalised and hashed into a ``Candidate``; a key the feed sent
before is a duplicate (the last one wins, with a notice); a bad record is rejected with its line
and the reason. A whole NDJSON line is first looked up by its hash among the lines that made the
stored snapshots: a line identical to one of them is unchanged and skips all of that work, even
parsing; its key and scope come from the store. Nothing here touches the store: the lookup is
passed in, per batch (``batch``) or, for a run that read every stored line hash of the kind at
once, as a ``LineIndex`` (``lines``). There the entities the index holds are known by their
position in it, and the feed's sight of them is a mark there rather than a key in ``seen``.

The record-level work (validation, normalisation, the key lengths, rejects, merging) is in
``candidates``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import xxhash

from deltahook.candidates import Candidate, RecordAdmission
from deltahook.catalog.entities import EntityKind
from deltahook.changes import canonical
from deltahook.feeds import values
from deltahook.feeds.readers import Item, Line, LineBatch, Record, Reject
from deltahook.store.lineindex import SEEN, LineIndex

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


class Admission(RecordAdmission):
    """Admits the records of one feed, batch by batch, counting into ``result``.

    The feed-wide state (``seen``, ``kept``, ``scopes``) and the record-level work
    (``candidate``, ``merged``) are ``RecordAdmission``'s, in ``candidates``.
    """

    def __post_init__(self) -> None:
        super().__post_init__()
        self._index: LineIndex | None = None  # while ``lines`` admits a batch
        self._locate: Callable[[str, int], int]  # set by ``lines`` for the batch it admits
        # Entities the feed has carried only in whole lines rejected after their batch: a later
        # copy of one is its first good one, not a duplicate of one applied.
        self._unapplied: set[Ident] = set()

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
        unchecked = record if line_hash is not None and body is None else None
        ident = self._note_duplicate(key, record.line, batch, unchecked)
        if ident is None:
            return
        if line_hash is not None:
            batch.lines[ident] = (record, line_hash)
        elif self.mode == "merge":
            batch.ready[ident] = record
        elif (candidate := self.candidate(record.line, record.data, body=body)) is not None:
            batch.ready[ident] = candidate

    def _note_duplicate(
        self, key: str, line: int, batch: Batch, unchecked: Record | None = None
    ) -> Ident | None:
        """Note a key the feed carries, reporting it if the feed sent it before; its ident.
        A record not validated yet (``unchecked``, a whole line) that repeats a key is
        validated first: a bad one is rejected and leaves the earlier copy be (None).

        With an index, a key of a stored entity it holds is seen when its position is marked,
        any other key when its tag is in ``seen``.
        """
        tag = xxhash.xxh3_64_intdigest(key)
        index = self._index
        if index is None:
            ident: Ident = key
            repeated = self.seen.add(tag)
        elif (at := self._locate(key, tag)) < 0:
            ident, repeated = ~tag, self.seen.add(tag)
        else:
            batch.indexed[key] = ident = at
            repeated = bool(index.marks[at])
            if not repeated:
                index.marks[at] = SEEN
        if repeated:
            if unchecked is not None and not self._validated(unchecked)[0]:
                return None
            self._repeated(ident, key, line, batch)
        return ident

    def _repeated(self, ident: Ident, key: str, line: int, batch: Batch) -> None:
        """Report a key the feed sent before; a copy in this batch is dropped (the last wins).

        A copy in an earlier batch was applied (and any change of it notified) already: this one
        is applied over it, so the end state is the last copy's but both changes are notified.
        An earlier copy that was rejected (a whole line, validated now or after its batch) was
        never applied: this one is the first good copy, no duplicate.
        """
        ready, unchanged = batch.ready.pop(ident, None), batch.unchanged.pop(ident, None)
        whole = batch.lines.pop(ident, None)
        if whole is not None and not self._validated(whole[0])[0]:
            return  # a whole line validated only now, and rejected: this copy is the first good
        here = ready is not None or unchanged is not None or whole is not None
        if not here and ident in self._unapplied:
            self._unapplied.discard(ident)
            return  # every earlier copy was rejected: this one is the first good
        self.result.counts.duplicates += 1
        if here:
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
            valid, body = self._validated(record)
            if not valid:
                self._unapplied.add(key)
                continue
            if (candidate := self.candidate(record.line, record.data, body=body)) is not None:
                candidate.line_hash = line_hash
                batch.ready[key] = candidate

    def _validated(self, record: Record) -> tuple[bool, dict[str, Any] | None]:
        """Whether a whole line's record is valid (a rejection said if not), and its body when
        the shape made it."""
        body = self._shape(record.data)
        problem = self._full.problem(record.data) if body is None else None
        if problem is not None:
            self._refuse(Reject(record.line, problem.field, problem.reason), record.data)
            return False, None
        return True, body


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
