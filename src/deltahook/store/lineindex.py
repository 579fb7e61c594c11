"""The stored line hashes of one kind, read once for a run: which feed lines are unchanged.

A full feed where almost nothing changed is mostly lines identical to the lines its stored
snapshots were made from. Rather than one ``line_hash IN (...)`` query per batch, the run reads
every stored line hash of the kind in one scan of the index that holds them (in hash order;
on SQLite a range of hashes at a time, see ``linescan``), into three arrays of 64-bit words:
the hash's high half (sorted, with a table of where each bucket of high bits starts), its low
half to confirm, and a tag of the entity's key (the ``xxh3_64`` of it, as ``SeenKeys`` holds
keys; made from the keys as read the first time one is needed: a feed with no changed line
never needs one). At a million entities that is about 26 MB.

Positions in the arrays stand for the stored entities: ``marks`` says which ones the feed has
carried (``SEEN``), and which ones this run has rewritten since the scan (``DEAD``: their stored
line is another one now, so a line identical to the old one is no longer unchanged).

The index is exact only while nobody else writes the kind: whether somebody did since the scan,
its ``freshness`` tells (``freshness.Freshness``).
"""

from __future__ import annotations

import sys
from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import partial
from itertools import compress, count, islice
from operator import eq, itemgetter, lt
from typing import Any

import xxhash
from sqlalchemy import Connection

from deltahook.store import linescan
from deltahook.store.freshness import Freshness
from deltahook.store.linescan import sql

SEEN = 1
DEAD = 2  # seen, and rewritten by this run: the stored line is another one now

_MASK = (1 << 64) - 1
LOCATE_LIMIT = 64  # ``locate`` look-ups in the store before the tag table is made anyway
_KEY = 'SELECT "key" FROM entities WHERE kind = ? AND line_hash = ?'
_LINE = 'SELECT line_hash FROM entities WHERE kind = ? AND "key" = ?'
_first, _second, _third = itemgetter(0), itemgetter(1), itemgetter(2)
Other = Callable[[int, int], None]


class LineIndex:
    """The line hashes of one kind's stored entities, by position (see the module)."""

    def __init__(self, kind: str, *, scoped: bool) -> None:
        self.kind = kind
        self._his = array("Q")
        self._los = array("Q")
        self._tags = array("Q")
        # Keys read by ranges, NUL-separated, whose tags are not made yet: a feed in which no
        # line changed never needs them (``tags``).
        self._untagged: list[bytes] = []
        self._scope_ids: array[int] | None = array("I") if scoped else None
        self._scope_names: dict[str, int] = {}
        # Where each bucket of high bits starts. An array, not a list: at a million entities a
        # list's int objects, spread over the heap, cost a lookup more than making a new one.
        self._starts = array("I")
        self._shift = 64
        self._by_tag: array[int] | None = None
        self._by_ranges = False  # read by ranges: no two entities share a line hash
        self._rewritten: dict[str, int] = {}  # positions of the keys this run rewrote
        self._located = 0  # look-ups by ``locate`` so far
        self.marks = bytearray()
        self.freshness = Freshness(kind)

    @classmethod
    def read(cls, conn: Connection, kind: str, *, scoped: bool, job_id: str = "") -> LineIndex:
        """Scan the kind's stored line hashes (in ``conn``'s transaction) for the job ``job_id``."""
        index = cls(kind, scoped=scoped)
        index.freshness = Freshness.before_scan(conn, kind, job_id=job_id)
        if index._read_ranges(conn):
            index._by_ranges = True
            index._finish(distinct=True)
        else:
            index._clear()
            for rows in linescan.rows(conn, kind, scoped=scoped):
                index._add(rows)
            index._finish()
        index.freshness.after_scan(conn)
        return index

    def _read_ranges(self, conn: Connection) -> bool:
        """Read the stored line hashes by ranges (``linescan.ranges``); False where that cannot
        be trusted: not SQLite in UTF-8, a key or scope holding the separator (NUL), or hashes
        not strictly increasing (SQLite does not promise the order of ``group_concat``; equal
        ones are left to the scan row by row, which keeps the last by key)."""
        if not linescan.by_ranges(conn):
            return False
        scoped = self._scope_ids is not None
        for hashes, keys, scopes, entities in linescan.ranges(conn, self.kind, scoped=scoped):
            if any(t.count(b"\0") != entities - 1 for t in (keys, scopes) if t is not None):
                return False
            self._untagged.append(keys)
            self._extend(hashes, () if scopes is None else map(bytes.decode, scopes.split(b"\0")))
        his = self._his
        return all(map(lt, his, islice(his, 1, None)))

    def _clear(self) -> None:
        self._his, self._los, self._tags = array("Q"), array("Q"), array("Q")
        self._untagged = []
        if self._scope_ids is not None:
            self._scope_ids, self._scope_names = array("I"), {}

    def _add(self, rows: Sequence[tuple[Any, ...]]) -> None:
        hashes = list(map(_first, rows))
        if set(map(len, hashes)) != {16}:  # never a feed line's hash: never matched
            rows = [row for row in rows if len(row[0]) == 16]
            if not rows:
                return
            hashes = list(map(_first, rows))
        self._tags.extend(map(xxhash.xxh3_64_intdigest, map(_second, rows)))
        self._extend(b"".join(hashes), map(_third, rows) if self._scope_ids is not None else ())

    def _extend(self, hashes: bytes, scopes: Iterable[str]) -> None:
        """Append entities: their 16-byte line hashes one after another, and their scopes."""
        his, los = _halves(hashes)
        self._his.extend(his)
        self._los.extend(los)
        if self._scope_ids is not None:
            names = self._scope_names
            self._scope_ids.extend(names.setdefault(scope, len(names)) for scope in scopes)

    def _finish(self, *, distinct: bool = False) -> None:
        """Index what was read (``distinct``: no two high halves alike, as already checked)."""
        his = self._his
        if not distinct and any(map(eq, his, islice(his, 1, None))):
            self._drop_repeats()
        n = len(self._his)
        bits = max(1, (n // 8).bit_length())  # about 8 entries per bucket of high bits
        self._shift = 64 - bits
        find = partial(bisect_left, self._his)
        self._starts = array("I", map(find, range(0, 1 << 64, 1 << self._shift)))
        self._starts.append(n)
        self.marks = bytearray(n)

    def _drop_repeats(self) -> None:
        """Keep the last of equal hashes, as a dict built from the rows in order would."""
        his, los = self._his, self._los
        last = len(his) - 1
        keep = [i == last or his[i] != his[i + 1] or los[i] != los[i + 1] for i in range(len(his))]
        self._his = array("Q", compress(his, keep))
        self._los = array("Q", compress(los, keep))
        self._tags = array("Q", compress(self.tags, keep))
        if self._scope_ids is not None:
            self._scope_ids = array("I", compress(self._scope_ids, keep))

    def __len__(self) -> int:
        return len(self._his)

    def lookup(self, digests: Iterable[int]) -> list[int]:
        """The position of each 128-bit line hash, or -1: not stored, or rewritten since."""
        return [at if at >= 0 and self.marks[at] != DEAD else -1 for at in map(self._find, digests)]

    def _find(self, digest: int) -> int:
        """The position of a 128-bit line hash, or -1 if it is not stored."""
        hi = digest >> 64
        bucket = hi >> self._shift
        end = self._starts[bucket + 1]
        i = bisect_left(self._his, hi, self._starts[bucket], end)
        if i < end and self._his[i] == hi:
            return i if self._los[i] == digest & _MASK else self._among_equal(i, end, digest)
        return -1

    def admit(self, digests: Sequence[bytes], found: dict[Any, str], other: Other) -> None:
        """Mark each line hash stored and not marked yet ``SEEN`` and note its position in
        ``found``; call ``other(i, at)`` for each other line, in the order of ``digests`` (16
        bytes each, big-endian): ``at`` the position of a line the feed carried before, -1 for a
        line not stored (or rewritten).

        ``_find`` and ``lookup`` inlined: one Python step per line for the nightly feed's lines,
        nearly all of them unchanged; their halves made in one C pass over the batch."""
        highs, lows = _halves(b"".join(digests))
        his, los, marks = self._his, self._los, self.marks
        starts, shift, seen = self._starts, self._shift, SEEN
        for i, hi, lo in zip(count(), highs, lows):
            bucket = hi >> shift
            end = starts[bucket + 1]
            at = bisect_left(his, hi, starts[bucket], end)
            if (
                at < end
                and his[at] == hi
                and (los[at] == lo or (at := self._among_equal(at, end, hi << 64 | lo)) >= 0)
            ):
                if not (mark := marks[at]):
                    marks[at] = seen
                    found[at] = ""
                    continue
                other(i, -1 if mark == DEAD else at)
            else:
                other(i, -1)

    def _among_equal(self, i: int, end: int, digest: int) -> int:
        """The position of ``digest`` among the hashes from ``i`` on that share its high half."""
        hi, lo = digest >> 64, digest & _MASK
        while i < end and self._his[i] == hi:
            if self._los[i] == lo:
                return i
            i += 1
        return -1

    def position(self, tag: int) -> int:
        """The position of the entity whose key has this tag, or -1 if it has none."""
        table = self._by_tag
        if table is None:
            table = self._by_tag = self._tag_table()
        mask = len(table) - 1
        slot = tag & mask
        tags = self.tags
        while at := table[slot]:
            if tags[at - 1] == tag:
                return at - 1
            slot = (slot + 1) & mask
        return -1

    def locate(self, conn: Connection, key: str, tag: int) -> int:
        """``position(tag)`` of the entity stored under ``key``, as of the scan. Read by ranges
        (one entity per line hash), it is where the line hash stored for ``key`` is, or where
        this run ``rewrote`` it: one look-up in the store's key index per changed line rather
        than the tag table, which hashes every stored key first (a nightly feed changes a few
        of many; ~25 ms at 100k entities, ~10 us a look-up). Once the look-ups would cost
        more than the table (``LOCATE_LIMIT``, or one changed line in 32), the table it is."""
        self._located += 1
        tabled = self._located > max(LOCATE_LIMIT, len(self) >> 5)
        if not self._by_ranges or self._by_tag is not None or tabled:
            return self.position(tag)
        if (at := self._rewritten.get(key)) is not None:
            return at
        dbapi: Any = conn.connection.dbapi_connection  # SQLite's own cursor: a quarter the cost
        row = dbapi.execute(_LINE, (self.kind, key)).fetchone()
        if row is None or not isinstance(row[0], bytes) or len(row[0]) != 16:
            return -1
        return self._find(int.from_bytes(row[0], "big"))

    def rewrote(self, key: str, position: int) -> None:
        """Mark ``DEAD`` the entity at ``position``, stored under ``key``: this run rewrote it."""
        self.marks[position] = DEAD
        self._rewritten[key] = position

    def _tag_table(self) -> array[int]:
        """An open-addressing table of positions + 1 by key tag, half full at most (built the
        first time a parsed record's key is looked up: a feed with no change never needs it)."""
        size = 1 << (2 * len(self)).bit_length()
        mask = size - 1
        table = array("I", bytes(4 * size))
        for at, tag in enumerate(self.tags, 1):
            slot = tag & mask
            while table[slot]:
                slot = (slot + 1) & mask
            table[slot] = at
        return table

    @property
    def tags(self) -> array[int]:
        """The key tag of each entity, by position (made from the keys read, the first time)."""
        for keys in self._untagged:  # a key's tag is its UTF-8's
            self._tags.extend(map(xxhash.xxh3_64_intdigest, keys.split(b"\0")))
        self._untagged.clear()
        return self._tags

    def tag(self, position: int) -> int:
        return self.tags[position]

    def line_hash(self, position: int) -> bytes:
        return ((self._his[position] << 64) | self._los[position]).to_bytes(16, "big")

    def key(self, conn: Connection, position: int) -> str:
        """The key of the entity at ``position``, from the store (for the rare report)."""
        row = conn.exec_driver_sql(sql(conn, _KEY), (self.kind, self.line_hash(position))).first()
        assert row is not None, "the store changed under a fresh index"
        return str(row[0])

    def scopes(self, positions: Iterable[int]) -> set[str]:
        """The scopes of the entities at ``positions`` (a scoped kind's)."""
        assert self._scope_ids is not None
        ids = set(map(self._scope_ids.__getitem__, positions))
        names = list(self._scope_names)
        return {names[i] for i in ids}

    def unseen(self, scopes: Iterable[str] | None) -> Iterator[int]:
        """Positions of the entities not marked (within ``scopes``, None = all)."""
        marks, ids = self.marks, self._scope_ids
        wanted = None
        if scopes is not None and ids is not None:
            wanted = {self._scope_names[s] for s in scopes if s in self._scope_names}
        at = marks.find(0)
        while at >= 0:
            if wanted is None or ids[at] in wanted:  # type: ignore[index]
                yield at
            at = marks.find(0, at + 1)

    def seen_tags(self) -> Iterator[int]:
        """The key tags of every marked entity (to hand the run back to per-batch queries)."""
        return compress(self.tags, self.marks)

    def mark_seen(self, tags: Iterable[int]) -> None:
        """Mark the entities with these key tags (keys admitted before the index was read)."""
        wanted = set(tags)
        if wanted:
            positions = range(len(self))
            for at in compress(positions, map(wanted.__contains__, self.tags)):
                self.marks[at] = SEEN


def _halves(hashes: bytes) -> tuple[array[int], array[int]]:
    """The high and low 64-bit halves of 16-byte big-endian hashes laid one after another, read
    as big-endian words so that they keep the store's (memcmp) order."""
    words = array("Q")
    words.frombytes(hashes)
    if sys.byteorder == "little":
        words.byteswap()
    return words[0::2], words[1::2]
