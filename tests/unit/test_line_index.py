"""A LineIndex answers as the per-batch ``line_hash IN (...)`` query would, read in one scan."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import xxhash
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, create_engine, insert

from deltahook.admission import Admission
from deltahook.catalog.entities import Catalog
from deltahook.clock import utc_now
from deltahook.feeds.items import LineBatch
from deltahook.pipeline import Run
from deltahook.results import RunResult
from deltahook.store import snapshots
from deltahook.store.db import open_engine
from deltahook.store.lineindex import DEAD, LOCATE_LIMIT, SEEN, LineIndex
from deltahook.store.tables import entities, metadata

NOW = datetime(2026, 1, 1, tzinfo=UTC)
# Line hashes whose high halves often collide, so the low half has to decide.
HASHES = st.tuples(st.integers(0, 3), st.integers(0, 2**64 - 1)).map(
    lambda halves: ((halves[0] << 62) << 64 | halves[1]).to_bytes(16, "big")
)


@contextmanager
def memory() -> Iterator[Connection]:
    """A connection to a fresh in-memory store."""
    engine = create_engine("sqlite://")
    metadata.create_all(engine)
    with engine.connect() as conn:
        yield conn


@pytest.fixture
def conn() -> Iterator[Connection]:
    with memory() as conn:
        yield conn


@pytest.fixture(scope="module")
def shared() -> Iterator[Connection]:
    """One in-memory store for every example of a property (each stores its rows afresh)."""
    with memory() as conn:
        yield conn


def store(conn: Connection, rows: dict[str, tuple[bytes | None, str]], kind: str = "k") -> None:
    conn.execute(entities.delete().where(entities.c.kind == kind))
    for key, (line_hash, scope) in rows.items():
        values = {"kind": kind, "key": key, "scope": scope, "hash": b"h", "body": b"{}"}
        values |= {"version": 1, "created_at": NOW, "updated_at": NOW, "line_hash": line_hash}
        conn.execute(insert(entities).values(**values))


# Keys with their line hashes (never two alike: one line makes one key) and scopes.
STORED = st.lists(
    st.tuples(HASHES | st.none(), st.sampled_from("xyz")),
    max_size=12,
    unique_by=lambda row: row[0] or object(),
).map(lambda rows: {f"key{i}": row for i, row in enumerate(rows)})


@settings(max_examples=60)
@given(stored=STORED, asked=st.lists(HASHES, max_size=10))
def test_lookup_finds_exactly_the_stored_lines(
    shared: Connection, stored: dict[str, tuple[bytes | None, str]], asked: list[bytes]
) -> None:
    """Every stored line hash is found at the position of its entity (key tag, scope and key
    read back), and a hash not stored is not, whatever the hashes share."""
    conn = shared
    store(conn, stored)
    store(conn, {"other": (next(iter(stored.values()))[0] if stored else None, "x")}, kind="j")
    index = LineIndex.read(conn, "k", scoped=True)
    with_lines = {h: (key, scope) for key, (h, scope) in stored.items() if h is not None}
    assert len(index) == len(with_lines)
    wanted = [*with_lines, *asked]
    digests = [int.from_bytes(h, "big") for h in wanted]
    for line_hash, at in zip(wanted, index.lookup(digests), strict=True):
        if line_hash not in with_lines:
            assert at == -1
            continue
        key, scope = with_lines[line_hash]
        assert index.line_hash(at) == line_hash
        assert index.key(conn, at) == key
        assert index.scopes([at]) == {scope}
        assert index.position(xxhash.xxh3_64_intdigest(key)) == at
    assert index.position(xxhash.xxh3_64_intdigest("not stored")) == -1
    assert snapshots.known_lines(conn, "k", wanted) == with_lines


def test_marks_say_what_the_feed_carried_and_what_the_run_rewrote(conn: Connection) -> None:
    """A rewritten entity's old line is no longer found; unseen() lists the unmarked ones by
    scope; seen_tags() and mark_seen() carry the marks to and from key tags."""
    lines = {
        key: (xxhash.xxh3_128_digest(key.encode()), scope)
        for key, scope in [("a", "x"), ("b", "x"), ("c", "y"), ("d", "y")]
    }
    store(conn, lines)
    index = LineIndex.read(conn, "k", scoped=True)
    at = {key: index.position(xxhash.xxh3_64_intdigest(key)) for key in lines}
    index.mark_seen([xxhash.xxh3_64_intdigest("a"), 12345])
    index.marks[at["b"]] = DEAD
    assert index.lookup([int.from_bytes(lines["b"][0], "big")]) == [-1]
    assert index.lookup([int.from_bytes(lines["a"][0], "big")]) == [at["a"]]
    assert index.marks[at["a"]] == SEEN
    assert sorted(index.unseen(None)) == sorted([at["c"], at["d"]])
    assert list(index.unseen({"x"})) == []
    assert sorted(index.seen_tags()) == sorted(xxhash.xxh3_64_intdigest(k) for k in "ab")


def test_a_commit_by_another_connection_makes_it_stale(tmp_path: Path) -> None:
    """fresh() holds across the run's own commits and fails once another connection commits."""
    url = f"sqlite:///{tmp_path}/index.db"
    engine, other = open_engine(url, check_schema=False), open_engine(url, check_schema=False)
    metadata.create_all(engine)
    with engine.connect() as conn:
        store(conn, {"a": (xxhash.xxh3_128_digest(b"a"), "")})
        conn.commit()
        index = LineIndex.read(conn, "k", scoped=False)
        store(conn, {"b": (xxhash.xxh3_128_digest(b"b"), "")})
        conn.commit()
        assert index.freshness.fresh(conn)
        conn.rollback()
        with other.connect() as theirs:
            store(theirs, {"c": (None, "")})
            theirs.commit()
        assert not index.freshness.fresh(conn)


def test_a_run_that_commits_without_its_jobs_checkpoint_is_refused(catalog: Catalog) -> None:
    """A committing run must move its job's row with each batch, or concurrent full feeds on
    PostgreSQL would trust an index its writes made stale; a preview (no commit) needs none."""

    def run(*, commit: bool) -> Run:
        conn: Any = None  # never used: the run is refused, or not fed
        return Run(
            conn=conn,
            kind=catalog["sku"],
            mode="full",
            decider=None,
            clock=utc_now,
            result=RunResult(job_id="j", kind="sku", mode="full"),
            batch_size=10,
            commit=commit,
            collect=False,
        )

    with pytest.raises(ValueError, match="checkpoint"):
        run(commit=True)
    assert run(commit=False).checkpoint is None


@settings(max_examples=60)
@given(
    stored=STORED,
    marked=st.lists(st.sampled_from([0, SEEN, DEAD]), max_size=12),
    asked=st.lists(st.integers(0, 15) | HASHES, max_size=16),
)
def test_admit_takes_the_unmarked_stored_lines_and_hands_over_the_rest_in_order(
    shared: Connection,
    stored: dict[str, tuple[bytes | None, str]],
    marked: list[int],
    asked: list[int | bytes],
) -> None:
    """admit() marks SEEN each stored line not marked yet (its first copy only) and notes it;
    every other line goes to ``other`` in feed order, with the position of a line the feed
    carried before, -1 for one not stored or rewritten: as a line-by-line walk would."""
    conn = shared
    store(conn, stored)
    index = LineIndex.read(conn, "k", scoped=False)
    index.marks[: len(marked)] = bytes(marked[: len(index)])
    by_hash = {index.line_hash(at): at for at in range(len(index))}
    hashes = [
        index.line_hash(h % len(index)) if isinstance(h, int) and by_hash else h for h in asked
    ]
    hashes = [h if isinstance(h, bytes) else bytes(16) for h in hashes]
    marks = bytearray(index.marks)
    expected_found: dict[int, str] = {}
    expected_other: list[tuple[int, int]] = []
    for i, line_hash in enumerate(hashes):
        at = by_hash.get(line_hash, -1)
        if at >= 0 and not marks[at]:
            marks[at] = SEEN
            expected_found[at] = ""
        else:
            expected_other.append((i, -1 if at < 0 or marks[at] == DEAD else at))
    found: dict[int, str] = {}
    other: list[tuple[int, int]] = []
    index.admit(hashes, found, lambda i, at: other.append((i, at)))
    assert found == expected_found
    assert other == expected_other
    assert index.marks == marks


def entities_of(index: LineIndex) -> list[tuple[bytes, int, set[str]]]:
    """What the index holds, position by position: line hash, key tag, scope."""
    return [(index.line_hash(at), index.tag(at), index.scopes([at])) for at in range(len(index))]


@settings(max_examples=60)
@given(
    rows=st.lists(
        st.tuples(
            st.binary(min_size=16, max_size=16) | HASHES | st.binary(max_size=20) | st.none(),
            st.text(max_size=6),  # NUL and characters beyond ASCII among them
            st.text(max_size=3),
        ),
        max_size=12,
        unique_by=lambda row: row[1],
    )
)
def test_the_scan_by_ranges_reads_what_the_scan_by_rows_does(
    shared: Connection, rows: list[tuple[bytes | None, str, str]]
) -> None:
    """SQLite's scan a range of line hashes at a time (joined by group_concat) holds the same
    entities at the same positions as the scan row by row, or steps aside for it (keys or
    scopes with NUL, equal high halves, hashes not 16 bytes long)."""
    conn = shared
    store(conn, {key: (line_hash, scope) for line_hash, key, scope in rows})
    by_ranges = entities_of(LineIndex.read(conn, "k", scoped=True))
    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(LineIndex, "_read_ranges", lambda _index, _conn: False)
        by_rows = entities_of(LineIndex.read(conn, "k", scoped=True))
    assert by_ranges == by_rows


def test_the_scan_by_ranges_is_taken_for_distinct_hashes(conn: Connection) -> None:
    """Keys and scopes beyond ASCII, and hashes in every range of first bytes: read by ranges."""
    rows = {f"ключ{i}": (xxhash.xxh3_128_digest(b"%d" % i), "lagret-ø") for i in range(300)}
    store(conn, rows)
    index = LineIndex("k", scoped=True)
    assert index._read_ranges(conn)
    index._finish(distinct=True)
    assert len(index) == 300
    for key, (line_hash, _scope) in rows.items():
        at = index.position(xxhash.xxh3_64_intdigest(key))
        assert index.line_hash(at) == line_hash
        assert index.scopes([at]) == {"lagret-ø"}


@settings(max_examples=60)
@given(
    rows=st.lists(
        st.tuples(
            st.binary(min_size=16, max_size=16) | st.binary(max_size=20) | st.none(),
            st.text(max_size=6),
        ),
        max_size=12,
        unique_by=lambda row: row[1],
    ),
    rewritten=st.sets(st.integers(0, 11), max_size=4),
)
def test_locate_answers_as_the_tag_table_does(
    shared: Connection, rows: list[tuple[bytes | None, str]], rewritten: set[int]
) -> None:
    """The position of a key's entity found from its stored line hash (read by ranges) is the
    one the table of key tags gives, for keys stored with or without a line, keys not stored,
    and keys this run rewrote (their stored line hash another one now)."""
    conn = shared
    store(conn, {key: (line_hash, "") for line_hash, key in rows})
    index = LineIndex.read(conn, "k", scoped=False)
    keys = [key for _line_hash, key in rows]
    expected = {key: index.position(xxhash.xxh3_64_intdigest(key)) for key in [*keys, "absent"]}
    index._by_tag = None  # as before any look-up
    for i in sorted(rewritten):
        if i < len(keys) and (at := expected[keys[i]]) >= 0:
            index.rewrote(keys[i], at)
            store_line(conn, keys[i], xxhash.xxh3_128_digest(b"rewritten %d" % i))
    for key, at in expected.items():
        assert index.locate(conn, key, xxhash.xxh3_64_intdigest(key)) == at
    # Read by ranges, every answer above came from the store (else from the table).
    assert index._by_tag is None or not index._by_ranges


def test_locate_makes_the_tag_table_once_look_ups_would_cost_more(shared: Connection) -> None:
    """After ``LOCATE_LIMIT`` look-ups in the store (a feed with many changed lines), ``locate``
    answers from the tag table, the same positions."""
    conn = shared
    keys = [f"k{i}" for i in range(LOCATE_LIMIT + 10)]
    store(conn, {key: (xxhash.xxh3_128_digest(key.encode()), "") for key in keys})
    index = LineIndex.read(conn, "k", scoped=False)
    index._by_tag = None
    found = [index.locate(conn, key, xxhash.xxh3_64_intdigest(key)) for key in keys]
    assert index._by_tag is not None
    assert found == [index.position(xxhash.xxh3_64_intdigest(key)) for key in keys]
    assert sorted(found) == list(range(len(keys)))


def store_line(conn: Connection, key: str, line_hash: bytes, kind: str = "k") -> None:
    where = (entities.c.kind == kind) & (entities.c.key == key)
    conn.execute(entities.update().where(where).values(line_hash=line_hash))


def test_lines_identical_to_stored_ones_need_neither_validator_nor_fast_path(
    conn: Connection, catalog: Catalog
) -> None:
    """Lines that are all identical to stored ones are never parsed, so admitting them makes
    neither the kind's validator nor its compiled fast path; the first line parsed makes the
    fast path."""
    unchanged, changed = b'{"PartNo": "P2"}', b'{"PartNo": "P1"}'
    store(conn, {"P1": (None, ""), "P2": (xxhash.xxh3_128_digest(unchanged), "")}, kind="sku")
    index = LineIndex.read(conn, "sku", scoped=False)
    result = RunResult(job_id="j", kind="sku", mode="full")
    admission = Admission(kind=catalog["sku"], mode="full", result=result)
    made = {"_full", "_shape"}
    admission.lines(LineBatch([1], [unchanged]), index, key_at=str)
    assert (result.counts.unchanged, made & set(vars(admission))) == (1, set())
    admission.lines(LineBatch([2], [changed]), index, key_at=str, locate=lambda _key, _tag: -1)
    assert "_shape" in vars(admission)
