"""Two ingests of overlapping feeds at the same time lose no update and notify as if serial."""

from __future__ import annotations

import io
import random
import threading
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine as SqlEngine
from sqlalchemy import select

from deltahook.config import Settings
from deltahook.engine import Engine
from deltahook.results import RunResult
from deltahook.store.db import open_engine
from deltahook.store.tables import entities
from tests.scale_support import (
    LOCATIONS,
    baseline,
    deliveries_per_notification,
    moved,
    notes,
    part_no,
    snapshots,
    states,
    stock_feed,
)


def feed(keys: range, value: int) -> bytes:
    rows = (
        {
            "PartNo": f"P{i:04d}",
            "WarehouseCode": "W1",
            "WarehouseId": 1,
            "LocationCode": "A",
            "LocationId": 1,
            "OnhandValue": value,
        }
        for i in keys
    )
    return b"".join(orjson.dumps(r) + b"\n" for r in rows)


def test_overlapping_concurrent_ingests_apply_every_record_once(database_url: str) -> None:
    """Each record of both feeds is applied exactly once, in some order, and none is lost."""
    feeds = {"a": feed(range(1000), 1), "b": feed(range(500, 1500), 2)}
    results: dict[str, RunResult] = {}
    errors: list[BaseException] = []

    def run(name: str) -> None:
        settings = Settings(database_url=database_url, batch_size=100)
        try:
            with Engine.from_settings(settings) as engine:
                results[name] = engine.ingest("sku_onhand", io.BytesIO(feeds[name]), fmt="ndjson")
        except BaseException as exc:  # reported below, in the test's own thread
            errors.append(exc)

    Engine.from_settings(Settings(database_url=database_url)).close()  # schema in place first
    threads = [threading.Thread(target=run, args=(name,)) for name in feeds]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    applied = sum(r.counts.inserted + r.counts.updated for r in results.values())
    assert applied == 2000  # every record changed something exactly once

    engine = Engine.from_settings(Settings(database_url=database_url))
    with engine.db.connect() as conn:
        rows: dict[str, Any] = {
            key: (orjson.loads(body)["OnhandValue"], version)
            for key, body, version in conn.execute(
                select(entities.c.key, entities.c.body, entities.c.version)
            )
        }
    engine.close()
    assert len(rows) == 1500
    assert all(rows[f"P{i:04d}|W1|A"] == (1, 1) for i in range(500))
    assert all(rows[f"P{i:04d}|W1|A"] == (2, 1) for i in range(1000, 1500))
    overlap = [rows[f"P{i:04d}|W1|A"] for i in range(500, 1000)]
    assert all(version == 2 for _, version in overlap)  # both feeds' writes, one after the other


# --- with the shipped rules ----------------------------------------------------------------

BATCH = 150  # a multiple of 3: no SKU's three stock rows are split between two batches
OVERLAP, ONLY_A, ONLY_B = range(400), range(400, 500), range(500, 600)


@dataclass(frozen=True, slots=True)
class Outcome:
    """A store after the first load and feeds A and B, stock row by stock row.

    ``rows[key]`` is what an order of the feeds decides for one row: its snapshot and version,
    its breakpoint state, the breakpoint notifications about it and the feed that wrote it
    last. ``sku_notified[part_no]`` counts the SKU notifications per feed.
    """

    rows: dict[str, tuple[object, ...]]
    sku_notified: dict[str, Counter[str]]

    @classmethod
    def read(cls, db: SqlEngine, feed_of: Mapping[str, str]) -> Outcome:
        with db.connect() as conn:
            found = notes(conn)
            queued = deliveries_per_notification(conn)
            writers = dict(conn.execute(select(entities.c.key, entities.c.job_id)).all())
            state = {row_key.split("|", 2)[2]: s for (_, row_key), s in states(conn).items()}
            stored = snapshots(conn)
        assert all(queued[n.id] == 1 for n in found)  # each with its delivery
        breakpoints: dict[str, Counter[bytes]] = defaultdict(Counter)
        sku_notified: dict[str, Counter[str]] = defaultdict(Counter)
        for note in found:
            payload = orjson.loads(note.payload)
            if note.type == "SkuOnHandBreakPointNotification":
                key = f"{payload['PartNo']}|{payload['WarehouseCode']}|{payload['LocationCode']}"
                breakpoints[key][note.payload] += 1
            elif note.type == "SkuChangedNotification":
                assert note.job_id is not None
                sku_notified[payload["PartNo"]][feed_of[note.job_id]] += 1
        rows = {
            key: (snapshot, state.get(key), breakpoints[key], feed_of[writers[key]])
            for key, snapshot in stored.items()
        }
        return cls(rows, sku_notified)

    def writers(self, key: str) -> set[str]:
        """The feeds whose write changed this row: its version counts them."""
        (_hash, _body, version), *_, last = self.rows[key]
        assert isinstance(version, int)
        return {"first"} | ({"A", "B"} if version == 3 else {str(last)})


def rules_settings(url: str) -> Settings:
    subscription = {"name": "shop", "url": "http://127.0.0.1:9/", "event_types": ["*"]}
    return Settings.model_validate(
        {
            "database_url": url,
            "batch_size": BATCH,
            "allow_private_urls": True,
            "subscriptions": [subscription],
        }
    )


def serially(url: str, feeds: Mapping[str, bytes]) -> Outcome:
    """The feeds ingested one after the other, in the order given."""
    feed_of = {}
    with Engine.from_settings(rules_settings(url)) as engine:
        for name, body in feeds.items():
            result = engine.ingest("sku_onhand", io.BytesIO(body), fmt="ndjson")
            feed_of[result.job_id] = name
        return Outcome.read(engine.db, feed_of)


def test_concurrent_ingests_with_rules_end_row_by_row_as_if_run_one_after_the_other(
    database_url: str, tmp_path: Path
) -> None:
    """Two overlapping stock feeds at once, racing batch for batch over the same SKUs.

    Every stock row ends exactly as in one of the two serial orders (A then B, or B then A):
    the same snapshot and version, breakpoint state and breakpoint notifications. Each SKU
    is notified once by each feed that changed one of its rows. A SKU as a whole need not
    follow one order (see ``orders``), on either store: a line identical to the stored one
    is taken for unchanged when it is read, while the feed's changes wait in a write batch
    that spans read batches, so the other feed may commit in between (and on PostgreSQL, read
    committed, two batches changing different rows of one SKU may both commit). Each row's
    history is serial, as the README promises for every entity.
    """
    rng = random.Random(11)
    feeds = {
        "first": stock_feed(baseline([*OVERLAP, *ONLY_A, *ONLY_B])),
        "A": stock_feed(moved(baseline([*OVERLAP, *ONLY_A]), rng, share=0.5)),
        "B": stock_feed(moved(baseline([*OVERLAP, *ONLY_B]), rng, share=0.5)),
    }
    a_then_b = serially(f"sqlite:///{tmp_path / 'ab.db'}", feeds)
    b_then_a = serially(
        f"sqlite:///{tmp_path / 'ba.db'}", {k: feeds[k] for k in ("first", "B", "A")}
    )
    got = concurrently(database_url, feeds)

    serial = {"A then B": a_then_b, "B then A": b_then_a}
    orders: dict[str, set[str]] = defaultdict(lambda: set(serial))  # SKU -> orders all its rows fit
    for key, row in got.rows.items():
        fits = {order for order, outcome in serial.items() if outcome.rows[key] == row}
        assert fits, f"{key}: {row} fits neither {a_then_b.rows[key]} nor {b_then_a.rows[key]}"
        orders[key.split("|")[0]] &= fits
    assert got.rows.keys() == a_then_b.rows.keys()
    for sku in map(part_no, [*OVERLAP, *ONLY_A, *ONLY_B]):
        changed_by = set().union(*(got.writers(f"{sku}|W1|{loc}") for loc in LOCATIONS))
        assert got.sku_notified[sku] == Counter(changed_by), sku
    mixed = sorted(sku for sku, fits in orders.items() if not fits)
    print(f"\nSKUs whose rows ended in different serial orders: {len(mixed)} of {len(orders)}")


def concurrently(url: str, feeds: Mapping[str, bytes]) -> Outcome:
    """The first load, then A and B in two threads at once; the store and each job's feed."""
    feed_of: dict[str, str] = {}
    errors: list[BaseException] = []
    ready = threading.Barrier(2)

    def run(name: str) -> None:
        try:
            with Engine.from_settings(rules_settings(url)) as engine:
                ready.wait(timeout=30)
                result = engine.ingest("sku_onhand", io.BytesIO(feeds[name]), fmt="ndjson")
                feed_of[result.job_id] = name
        except BaseException as exc:  # reported below, in the test's own thread
            errors.append(exc)

    with Engine.from_settings(rules_settings(url)) as engine:
        first = engine.ingest("sku_onhand", io.BytesIO(feeds["first"]), fmt="ndjson")
    feed_of[first.job_id] = "first"
    threads = [threading.Thread(target=run, args=(name,)) for name in "AB"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    db = open_engine(url)
    try:
        return Outcome.read(db, feed_of)
    finally:
        db.dispose()
