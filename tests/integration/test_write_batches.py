"""Write batches: the changes of several read batches are written and committed together.

A read batch holds ``batch_size`` lines; what it admits as changed or new waits in a write batch,
written (with the job's checkpoint) once it holds ``batch_size`` records, before a record that
repeats a key waiting there, at the end of the feed and when the feed cannot be read further.
What the feed does is the same as when each read batch was written on its own; the job's
counts never claim a line whose change is not committed.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection

from deltahook.changes.model import EntityChange
from deltahook.config import Settings
from deltahook.engine import Engine
from deltahook.errors import SweepRefusedError
from deltahook.results import RunResult
from deltahook.store import jobs
from deltahook.writebatch import MAX_WAIT
from tests.clocks import MovableClock
from tests.deciders import FailsOnCall
from tests.full_feed_support import encode, ingest, onhand

BATCH = 3
PARTS = [f"P{i}" for i in range(9)]  # three read batches


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock(datetime(2026, 11, 30, 12, tzinfo=UTC))


@pytest.fixture
def engine(database_url: str, clock: MovableClock) -> Iterator[Engine]:
    settings = Settings(database_url=database_url, batch_size=BATCH)
    with Engine.from_settings(settings, clock=clock) as engine:
        ingest(engine, [onhand(part) for part in PARTS], "ndjson")  # every OnhandValue 5
        yield engine


def feed(**values: int) -> list[dict[str, Any]]:
    """Every part, in order, with the OnhandValue given for some."""
    return [onhand(part, OnhandValue=values.get(part, 5)) for part in PARTS]


def stored_value(engine: Engine, part: str) -> Any:
    entity = engine.snapshot("sku_onhand", f"{part}|W1|A")
    assert entity is not None
    return entity.body["OnhandValue"]


def updates(result: RunResult, part: str) -> list[tuple[Any, Any]]:
    """The OnhandValue updates of ``part`` the run reported, in order."""
    found = []
    for change in result.changes:
        if change.key == f"{part}|W1|A":
            (field,) = change.rows[0].fields
            found.append((field.old, field.new))
    return found


class Commits:
    """``on_batch``: the changes of each committed write batch, kept here."""

    def __init__(self) -> None:
        self.batches: list[list[EntityChange]] = []

    def __call__(self, batch: RunResult) -> None:
        self.batches.append(list(batch.changes))

    @property
    def sizes(self) -> list[int]:
        return [len(changes) for changes in self.batches]


MODES = [
    "full",  # a full NDJSON feed on SQLite admits its lines against the run's line index
    "upsert",  # an upsert asks the store for the stored lines per read batch
    "merge",  # a merge record is compared with the stored body it merges into
]


@pytest.mark.parametrize("mode", MODES[:2])
def test_the_changes_of_several_read_batches_are_committed_together(
    engine: Engine, mode: str
) -> None:
    """One change in each of three read batches: one commit of the three. (Every record of a
    merge feed waits: what it changes is known only against the stored body.)"""
    commits = Commits()
    result = ingest(engine, feed(P0=1, P4=2, P8=3), "ndjson", mode=mode, on_batch=commits)
    assert commits.sizes == [3]
    assert (result.counts.updated, result.counts.unchanged) == (3, 6)
    assert [stored_value(engine, p) for p in ("P0", "P4", "P8")] == [1, 2, 3]


def test_a_write_batch_is_committed_once_it_holds_batch_size_changes(engine: Engine) -> None:
    """Two changes wait after the first read batch, four after the second: those four are
    committed; the last change is committed at the end of the feed."""
    commits = Commits()
    ingest(engine, feed(P0=1, P1=1, P3=1, P4=1, P8=1), "ndjson", on_batch=commits)
    assert commits.sizes == [4, 1]


@pytest.mark.parametrize(
    ("step", "sizes"),
    [
        (MAX_WAIT - timedelta(seconds=1), [3]),  # P0 has waited less when P8 comes: one commit
        (MAX_WAIT, [2, 1]),  # P0 has waited MAX_WAIT when P4 comes: P0 and P4 are committed
    ],
)
def test_a_write_batch_is_committed_once_its_first_change_has_waited_max_wait(
    engine: Engine, clock: MovableClock, step: timedelta, sizes: list[int]
) -> None:
    """The wait is on the run's clock, from the first change the write batch holds."""

    def tick(_lines: int) -> None:
        clock.now += step

    commits = Commits()
    ingest(engine, feed(P0=1, P4=2, P8=3), "ndjson", on_batch=commits, progress=tick)
    assert commits.sizes == sizes


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("again", "expected"),
    [
        (5, [(5, 6), (6, 5)]),  # back to the stored line: not unchanged, the waiting copy is over
        (7, [(5, 6), (6, 7)]),  # another change: applied over the first
    ],
)
def test_a_copy_of_a_waiting_key_in_a_later_read_batch_is_applied_over_it(
    engine: Engine, mode: str, again: int, expected: list[tuple[int, int]]
) -> None:
    """P0 changes in the first read batch and comes again in the third, while its change still
    waits: as when each read batch was committed on its own, the first copy is applied (and
    notified), then the second over it; the last one wins."""
    entries = [*feed(P0=6), onhand("P0", OnhandValue=again)]
    result = ingest(engine, entries, "ndjson", mode=mode)
    assert updates(result, "P0") == expected
    assert stored_value(engine, "P0") == again
    assert (result.counts.duplicates, result.counts.updated) == (1, 2)
    assert result.notices == [
        "line 10: duplicate key 'P0|W1|A' in this feed; the last one wins, but an earlier copy "
        "was applied with an earlier batch (and its change notified): this one is applied over it"
    ]


def test_a_copy_of_a_waiting_key_after_the_line_index_is_read_is_applied_over_it(
    engine: Engine,
) -> None:
    """A store of more than four batches of a scoped kind: the run reads its line index at its
    second read batch (once the first showed the feed's scopes), after P0's change waited in
    the first. P0 again, as stored before, is applied over that change."""
    more = [f"P{i}" for i in range(9, 15)]
    ingest(engine, [onhand(part) for part in more], "ndjson", mode="upsert")
    entries = [*feed(P0=6), onhand("P0"), *(onhand(part) for part in more)]
    result = ingest(engine, entries, "ndjson")
    assert updates(result, "P0") == [(5, 6), (6, 5)]
    assert stored_value(engine, "P0") == 5


def test_an_unchanged_copy_of_a_key_whose_change_is_committed_stays_unchanged(
    engine: Engine,
) -> None:
    """P0 changes to 6 and comes again as 6 after that change is committed: one update."""
    entries = [*feed(P0=6, P1=6, P2=6), onhand("P0", OnhandValue=6)]
    result = ingest(engine, entries, "ndjson")
    assert updates(result, "P0") == [(5, 6)]
    assert (result.counts.duplicates, result.counts.unchanged) == (1, 7)


class Checkpoints:
    """``progress``: after each read batch, what the job's row claims and what is stored."""

    def __init__(self, engine: Engine, then: Callable[[], None] = lambda: None) -> None:
        self.engine = engine
        self.then = then
        self.seen: list[tuple[int, dict[str, Any]]] = []

    def __call__(self, _lines: int) -> None:
        with self.engine.db.connect() as conn:
            received = running_job(conn)["counts"]["received"]
        self.seen.append((received, {p: stored_value(self.engine, p) for p in PARTS}))
        self.then()


def running_job(conn: Connection) -> dict[str, Any]:
    (job,) = [job for job in jobs.recent(conn) if job["status"] == "running"]
    return job


@pytest.mark.parametrize("lease_due", [False, True])
def test_the_job_never_claims_lines_whose_changes_wait(
    engine: Engine, clock: MovableClock, lease_due: bool
) -> None:
    """After each read batch, every line the job's row counts as received has its change
    stored (a killed ingest's abandoned job claims only what it committed; running the feed
    again applies the rest). When the lease is due, what waits is committed with it."""
    values = {"P1": 6, "P4": 7, "P7": 8}

    def move() -> None:
        if lease_due:
            clock.now += timedelta(seconds=engine.settings.job_lease_s)

    checkpoints = Checkpoints(engine, move)
    ingest(engine, feed(**values), "ndjson", progress=checkpoints)
    for received, stored in checkpoints.seen:
        claimed = PARTS[:received]
        assert all(stored[p] == values[p] for p in claimed if p in values), (received, stored)
    claims = [received for received, _ in checkpoints.seen]
    assert claims == ([0, 6, 9] if lease_due else [0, 0, 9])


def test_a_feed_run_again_after_a_failure_applies_what_waited_and_nothing_twice(
    engine: Engine,
) -> None:
    """The second write batch fails: its changes are not stored and the failed job does not
    count them; the feed run again applies them, and only them."""
    values = {"P0": 1, "P1": 1, "P2": 1, "P5": 2, "P8": 3}
    engine.decider = FailsOnCall(2)
    first = Commits()
    with pytest.raises(RuntimeError, match="the rules failed"):
        ingest(engine, feed(**values), "ndjson", on_batch=first)
    with engine.db.connect() as conn:
        (failed,) = [job for job in jobs.recent(conn) if job["status"] == "failed"]
    assert failed["counts"]["updated"] == 3
    again = Commits()
    engine.decider = None
    ingest(engine, feed(**values), "ndjson", on_batch=again)
    keys = [c.key for batch in first.batches + again.batches for c in batch]
    assert sorted(keys) == sorted(f"{p}|W1|A" for p in values)
    assert [stored_value(engine, p) for p in values] == list(values.values())


def test_a_failed_job_claims_only_the_lines_whose_changes_it_committed(engine: Engine) -> None:
    """The second write batch (P5 and P8, read with the second and third read batches) fails:
    the failed job's counts are its checkpoint's after the first (the lines of the first read
    batch, its three changes), not the nine lines the run had read."""
    engine.decider = FailsOnCall(2)
    with pytest.raises(RuntimeError, match="the rules failed"):
        ingest(engine, feed(P0=1, P1=1, P2=1, P5=2, P8=3), "ndjson")
    with engine.db.connect() as conn:
        (failed,) = [job for job in jobs.recent(conn) if job["status"] == "failed"]
    claimed = {name: failed["counts"][name] for name in ("received", "unchanged", "updated")}
    assert claimed == {"received": 3, "unchanged": 0, "updated": 3}


class BreaksAfter(io.RawIOBase):
    """A stream that gives ``data`` and then fails, as an upload cut short."""

    def __init__(self, data: bytes) -> None:
        super().__init__()
        self._data = data

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if not self._data:
            raise OSError("the connection was reset")
        count = min(len(buffer), len(self._data))
        buffer[:count] = self._data[:count]
        self._data = self._data[count:]
        return count


def test_what_was_read_before_a_feed_breaks_off_is_applied(engine: Engine) -> None:
    """The stream fails after two read batches: their changes, waiting, are committed."""
    data = encode(feed(P1=6, P4=7), "ndjson")
    cut = data[: data.index(b"\n", data.index(b'"P6"')) - 10]  # P6's line is cut short
    with pytest.raises(OSError, match="reset"):
        engine.ingest("sku_onhand", io.BufferedReader(BreaksAfter(cut)), fmt="ndjson", mode="full")
    assert (stored_value(engine, "P1"), stored_value(engine, "P4")) == (6, 7)


def test_a_refused_sweep_follows_the_feeds_committed_changes(engine: Engine) -> None:
    """A full feed that leaves out most of its scope: its changes are committed, then the sweep
    is refused and removes nothing."""
    left_out = engine.snapshot("sku_onhand", "P8|W1|A")
    entries = [onhand("P0", OnhandValue=1), onhand("P4", OnhandValue=2)]
    with pytest.raises(SweepRefusedError):
        ingest(engine, entries, "ndjson")
    assert (stored_value(engine, "P0"), stored_value(engine, "P4")) == (1, 2)
    assert engine.snapshot("sku_onhand", "P8|W1|A") == left_out


def test_a_preview_reports_what_the_ingest_does_and_writes_nothing(engine: Engine) -> None:
    """A preview of changes spread over read batches (one of them twice) writes nothing and
    reports the changes the ingest then makes."""
    entries = [*feed(P0=6, P4=7), onhand("P0", OnhandValue=5)]
    preview = engine.preview(
        "sku_onhand", io.BytesIO(encode(entries, "ndjson")), fmt="ndjson", mode="full"
    )
    assert stored_value(engine, "P0") == 5
    done = ingest(engine, entries, "ndjson")
    assert [c.to_json() for c in preview.changes] == [c.to_json() for c in done.changes]
    assert preview.counts == done.counts
