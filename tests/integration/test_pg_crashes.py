"""SIGKILL at random moments: a killed ingest or dispatcher leaves the store consistent.

Each round starts ``deltahook deliver`` and ``deltahook ingest`` of the next stock feed as
processes, SIGKILLs the ingest at a random moment of its feed and the dispatcher a moment
later, checks what the killed ingest committed, then runs the feed again. A clean run of the
same feeds (one after the other, nothing killed) is the reference for every check.

Five rounds in CI; ``DELTAHOOK_KILL_ROUNDS=20`` for the full run (about 2 minutes), and
``DELTAHOOK_KILL_SEED`` to vary the feeds and the moments.
"""

from __future__ import annotations

import os
import random
import time
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import select

from deltahook.configload import load_settings
from deltahook.delivery.receiver import Receiver
from deltahook.engine import Engine
from deltahook.store.tables import attempts, deliveries
from tests.scale_support import (
    deliveries_per_notification,
    deltahook,
    derived,
    drain_in_process,
    job_ids,
    named,
    notes,
    snapshots,
    sources,
    states,
    stock_versions,
    wait_gone,
    wait_until,
    write_config,
    written_by,
)

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

ROUNDS = int(os.environ.get("DELTAHOOK_KILL_ROUNDS", "5"))
SEED = int(os.environ.get("DELTAHOOK_KILL_SEED", "6"))
# 4,500 rows, ~1,350 of them move per feed: about 1.3 s on PostgreSQL. Batches of 100 rows
# split some SKUs' three rows, so a kill can fall between the rows of one SKU notification.
SKUS, SHARE, BATCH = 1_500, 0.3, 100
KIND = "sku_onhand"
What = tuple[str, bytes]
K = TypeVar("K")


@dataclass(frozen=True, slots=True)
class Version:
    """What the clean run did with one feed: the entities it changed, what it notified, and
    the store it left (snapshots and breakpoint states)."""

    changed: frozenset[str]
    notified: tuple[tuple[What, frozenset[str]], ...]  # (type, payload) and its sources
    snapshots: dict[str, tuple[bytes, bytes, int]]
    states: dict[tuple[str, str], str]

    def expected(self, committed: set[str]) -> Counter[What]:
        """The notifications a job that committed exactly ``committed`` must have stored.

        A notification fires in the job that commits any one of its sources (a SKU's
        notification names every stock row of the SKU that changed).
        """
        return Counter(what for what, why in self.notified if why & committed)


def clean_run(config: Path, feeds: list[Path], url: str) -> list[Version]:
    """The feeds ingested one after the other into a fresh database, nothing killed.

    Each feed in one batch: a notification's explanation lists the matches of the batch that
    first fired it, and a later batch of the job that would fire it again adds none, so with
    smaller batches a SKU row whose change only a later batch saw would look like no source.
    """
    overrides = {"database_url": url, "batch_size": SKUS * 3}
    settings = load_settings(config, overrides=overrides)
    versions = []
    with Engine.from_settings(settings) as engine:
        for feed in feeds:
            job = engine.ingest(KIND, feed).job_id
            with engine.db.connect() as conn:
                why = sources(conn, job)
                versions.append(
                    Version(
                        changed=frozenset(written_by(conn, job)),
                        notified=tuple(
                            (n.what, why[n.id]) for n in notes(conn, job_id=job) if n.id in why
                        ),
                        snapshots=snapshots(conn),
                        states=states(conn),
                    )
                )
    return versions


@dataclass(slots=True)
class Tally:
    """What the rounds did, for the checks at the end and the figures printed."""

    expected: Counter[What]
    killed_mid_feed: int = 0
    committed_by_killed: int = 0
    straddling: int = 0  # SKU notifications both the killed job and the re-run had to send


def test_killed_ingests_and_dispatchers_leave_a_consistent_store_that_a_rerun_completes(
    tmp_path: Path, pg_url: str, receiver: Receiver
) -> None:
    """Per round: what the killed ingest committed has exactly its notifications and
    deliveries; the re-run adds the rest, and the store then equals the clean run's. At the
    end every delivery is delivered, and the receiver saw a message twice only when a killed
    dispatcher had it in flight."""
    feeds = stock_versions(skus=SKUS, versions=ROUNDS, share=SHARE, seed=SEED)
    paths = []
    for number, feed in enumerate(feeds):
        paths.append(tmp_path / f"stock-{number}.ndjson")
        paths[-1].write_bytes(feed)
    config = write_config(
        tmp_path / "deltahook.yaml", receiver_url=receiver.url, batch_size=BATCH, timeout=2
    )
    reference = clean_run(config, paths, f"sqlite:///{tmp_path / 'clean.db'}")
    rng = random.Random(SEED)
    receiver.on_request = lambda _request: time.sleep(0.005)  # keeps requests in flight
    tally = Tally(expected=reference[0].expected(set(reference[0].changed)))
    started = time.monotonic()
    settings = load_settings(config, overrides={"database_url": pg_url})
    with Engine.from_settings(settings) as engine:
        engine.ingest(KIND, paths[0])
        for number in range(1, ROUNDS + 1):
            kill_round(engine, config, pg_url, paths[number], reference[number], rng, tally)
        rounds_took = time.monotonic() - started
        receiver.on_request = None
        drain_started = time.monotonic()
        drained = drain_in_process(pg_url)
        drain_took = time.monotonic() - drain_started
        lost_by = check_the_end(engine, reference, tally, receiver)
    repeated = sum(n - 1 for n in Counter(r.message_id for r in receiver.requests).values())
    print(  # the figures of a run, shown with -s
        f"\n{ROUNDS} rounds in {rounds_took:.1f} s. Ingests: {tally.killed_mid_feed} killed "
        f"mid-feed, {tally.committed_by_killed:,} changes committed before the kills, "
        f"{tally.straddling} SKU notifications sent by both the killed job and the re-run. "
        f"Dispatchers: {len(lost_by)} killed mid-request, {sum(lost_by.values())} attempts "
        f"lost, {repeated} messages received twice. Final drain: {drained:,} deliveries in "
        f"{drain_took:.1f} s"
    )


def kill_round(
    engine: Engine,
    config: Path,
    url: str,
    feed: Path,
    version: Version,
    rng: random.Random,
    tally: Tally,
) -> None:
    """Kill an ingest of ``feed`` and a dispatcher, check the store, run the feed again."""
    with engine.db.connect() as conn:
        known = set(job_ids(conn))
    worker, name = f"killed-{feed.stem}", f"ingest-{feed.stem}"
    dispatcher = deltahook(config, named(url, worker), "deliver", "--worker-id", worker)
    ingest = deltahook(config, named(url, name), "ingest", KIND, str(feed))
    wait_until(
        lambda: len(new_jobs(engine, known)) > 0 or ingest.poll() is not None,
        timeout=60,
        what="the ingest to start its job",
    )
    time.sleep(rng.uniform(0.0, 1.3))  # the feed takes about 1.3 s
    ingest.kill()
    _, stderr = ingest.communicate(timeout=10)
    assert ingest.returncode in (0, -9), stderr.decode()
    wait_gone(engine.db, name)

    [killed] = new_jobs(engine, known) or [None]
    with engine.db.connect() as conn:
        committed = written_by(conn, killed) if killed else set()
        stored = notes(conn, job_id=killed) if killed else []
        queued = deliveries_per_notification(conn)
    expected_first = version.expected(committed)
    assert_same(derived(stored), expected_first)
    assert all(queued[n.id] == 1 for n in stored)  # each with its delivery

    time.sleep(rng.uniform(0.0, 0.5))
    dispatcher.kill()
    dispatcher.communicate(timeout=10)

    rerun = engine.ingest(KIND, feed).job_id
    with engine.db.connect() as conn:
        rest = written_by(conn, rerun)
        assert committed.isdisjoint(rest)
        assert committed | rest == version.changed
        expected_rest = version.expected(rest)
        stored = notes(conn, job_id=rerun)
        assert_same(derived(stored), expected_rest)
        queued = deliveries_per_notification(conn)
        assert all(queued[n.id] == 1 for n in stored)
        assert not differences(snapshots(conn), version.snapshots)
        assert not differences(states(conn), version.states)
    tally.expected += expected_first + expected_rest
    tally.killed_mid_feed += 0 < len(committed) < len(version.changed)
    tally.committed_by_killed += len(committed)
    tally.straddling += sum((expected_first & expected_rest).values())


def assert_same(found: Counter[What], expected: Counter[What]) -> None:
    """Equal multisets, and on failure only the differences shown (not two long Counters)."""
    assert (found - expected, expected - found) == (Counter(), Counter())


def differences(found: Mapping[K, object], expected: Mapping[K, object]) -> list[K]:
    """The keys whose values differ (or that only one side has), a few at most."""
    keys = found.keys() | expected.keys()
    return sorted((k for k in keys if found.get(k) != expected.get(k)), key=str)[:5]


def new_jobs(engine: Engine, known: set[str]) -> list[str]:
    with engine.db.connect() as conn:
        return sorted(set(job_ids(conn)) - known)


def check_the_end(
    engine: Engine, reference: list[Version], tally: Tally, receiver: Receiver
) -> Counter[str]:
    """Everything the clean run has, each delivery delivered; returns lost attempts by worker."""
    with engine.db.connect() as conn:
        stored = notes(conn)
        rows = list(conn.execute(select(deliveries)))
        logged = list(conn.execute(select(attempts).order_by(attempts.c.number)))
        jobs = job_ids(conn)
        assert not differences(snapshots(conn), reference[-1].snapshots)
        assert not differences(states(conn), reference[-1].states)
    everything = derived(stored)
    assert_same(everything, tally.expected)
    assert set(everything) == {what for v in reference for what, _ in v.notified}
    # Every job that ended has its JobCompletedEvent: the finished ones, and the killed ones
    # a later ingest found abandoned; a killed job still within its lease has none yet.
    ended = sum(status != "running" for status in jobs.values())
    assert sum(n.family == "event" for n in stored) == ended
    assert Counter(d.notification_id for d in rows) == Counter({n.id: 1 for n in stored})
    assert {d.status for d in rows} == {"delivered"}

    tries: dict[str, list[Any]] = defaultdict(list)
    for attempt in logged:
        tries[attempt.delivery_id].append(attempt)
    received = Counter(r.message_id for r in receiver.requests)
    lost_by: Counter[str] = Counter()
    for delivery in rows:
        *lost, last = tries[delivery.id]
        assert [a.number for a in tries[delivery.id]] == list(range(1, delivery.attempts + 1))
        assert last.status_code == 200
        assert all(a.status_code is None and a.worker.startswith("killed-") for a in lost)
        # Sent again only after a killed dispatcher lost its attempt; never more often.
        assert 1 <= received[delivery.notification_id] <= 1 + len(lost)
        lost_by.update(a.worker for a in lost)
    return lost_by
