"""Helpers for the scale and crash tests: stock feeds, deltahook processes, the store as values.

Stock rows (``sku_onhand``) make the richest feed for these tests: a changed row fires the
parent SKU's ``SkuChangedNotification`` (one per SKU and job, however many of its rows changed)
and, when its level drops to or below ``MinimumValue``, a ``SkuOnHandBreakPointNotification``
that depends on per-row state kept in ``rule_state``.
"""

from __future__ import annotations

import random
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
import yaml
from sqlalchemy import Connection, Engine, select

from deltahook.explanations import unpack
from deltahook.store.tables import deliveries, entities, ingest_jobs, notifications, rule_state

REPO = Path(__file__).resolve().parents[1]
LOCATIONS = ("A", "B", "C")
MINIMUM = 10
Row = tuple[int, str]  # (SKU number, location)
Levels = dict[Row, int]


def part_no(sku: int) -> str:
    return f"P{sku:05d}"


def stock_feed(levels: Mapping[Row, int]) -> bytes:
    """An NDJSON stock feed of ``levels``, a SKU's rows together, in SKU order."""
    lines = []
    for sku, location in sorted(levels):
        record = {
            "PartNo": part_no(sku),
            "WarehouseCode": "W1",
            "WarehouseId": 1,
            "LocationCode": location,
            "LocationId": LOCATIONS.index(location) + 1,
            "OnhandValue": levels[(sku, location)],
            "MinimumValue": MINIMUM,
            "IsActive": True,
        }
        lines.append(orjson.dumps(record) + b"\n")
    return b"".join(lines)


def baseline(skus: Iterable[int]) -> Levels:
    """Every row well above its minimum: a first load fires no breakpoint."""
    return {(sku, location): 50 for sku in skus for location in LOCATIONS}


def moved(levels: Levels, rng: random.Random, *, share: float) -> Levels:
    """``levels`` with a random ``share`` of the rows at a new level, a third at or below 10."""
    out = dict(levels)
    for row, level in levels.items():
        if rng.random() < share:
            out[row] = (level + rng.randint(1, 30)) % 31
    return out


def stock_versions(*, skus: int, versions: int, share: float, seed: int) -> list[bytes]:
    """The baseline feed, then ``versions`` feeds each moving ``share`` of the rows."""
    rng = random.Random(seed)
    levels = baseline(range(skus))
    feeds = [stock_feed(levels)]
    for _ in range(versions):
        levels = moved(levels, rng, share=share)
        feeds.append(stock_feed(levels))
    return feeds


# --- deltahook in processes of its own ---------------------------------------------------------


def write_config(path: Path, *, receiver_url: str, batch_size: int = 2000, **sub: Any) -> Path:
    """A config file with one subscription to every type (the receiver listens on loopback)."""
    subscription = {"name": "shop", "url": receiver_url, "event_types": ["*"], **sub}
    settings = {
        "allow_private_urls": True,
        "batch_size": batch_size,
        "subscriptions": [subscription],
    }
    path.write_text(yaml.safe_dump(settings))
    return path


def named(url: str, application_name: str) -> str:
    """``url`` whose connections show ``application_name`` in ``pg_stat_activity``."""
    return f"{url}&application_name={quote(application_name)}"


def deltahook(config: Path, url: str, *args: str) -> subprocess.Popen[bytes]:
    """``python -m deltahook`` with ``config`` and ``url``, output captured."""
    command = [sys.executable, "-m", "deltahook", "--config", str(config)]
    command += ["--database-url", url, *args]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_until(test: Callable[[], bool], *, timeout: float, what: str, every: float = 0.05) -> None:
    """Poll ``test`` until it holds; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not test():
        if time.monotonic() > deadline:
            raise TimeoutError(f"after {timeout} s still waiting for {what}")
        time.sleep(every)


def connections_of(db: Engine, application_name: str) -> int:
    """Server backends still serving connections named ``application_name``."""
    with db.connect() as conn:
        found = conn.exec_driver_sql(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %(name)s",
            {"name": application_name},
        ).scalar_one()
    return int(found)


def wait_gone(db: Engine, application_name: str) -> None:
    """Wait until the server has ended every backend of a killed process (and its transaction).

    Until then a commit the process sent just before it died may still become visible.
    """
    wait_until(
        lambda: connections_of(db, application_name) == 0,
        timeout=30,
        what=f"the backends of {application_name} to end",
    )


# --- the store as plain values -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Note:
    """A stored notification as the comparisons see it."""

    id: str
    type: str
    payload: bytes  # canonical JSON: sorted keys
    job_id: str | None
    family: str

    @property
    def what(self) -> tuple[str, bytes]:
        return (self.type, self.payload)


def canonical_payload(payload: bytes | Mapping[str, Any]) -> bytes:
    value = orjson.loads(payload) if isinstance(payload, bytes) else dict(payload)
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def snapshots(conn: Connection) -> dict[str, tuple[bytes, bytes, int]]:
    """Every stored entity: key -> (hash, body, version)."""
    query = select(entities.c.key, entities.c.hash, entities.c.body, entities.c.version)
    return {key: (bytes(h), bytes(b), v) for key, h, b, v in conn.execute(query)}


def written_by(conn: Connection, job_id: str) -> set[str]:
    """Keys of the entities whose stored snapshot ``job_id`` wrote."""
    query = select(entities.c.key).where(entities.c.job_id == job_id)
    return set(conn.execute(query).scalars())


def states(conn: Connection) -> dict[tuple[str, str], str]:
    """The breakpoint state of every row that has one."""
    query = select(rule_state.c.rule, rule_state.c.row_key, rule_state.c.state)
    return {(rule, key): state for rule, key, state in conn.execute(query)}


def notes(conn: Connection, *, job_id: str | None = None) -> list[Note]:
    query = select(
        notifications.c.id,
        notifications.c.type,
        notifications.c.payload,
        notifications.c.job_id,
        notifications.c.family,
    )
    if job_id is not None:
        query = query.where(notifications.c.job_id == job_id)
    return [Note(i, t, canonical_payload(bytes(p)), j, f) for i, t, p, j, f in conn.execute(query)]


def derived(found: Iterable[Note]) -> Counter[tuple[str, bytes]]:
    """The rule-derived notifications as a multiset of (type, payload)."""
    return Counter(n.what for n in found if n.family == "notification")


def deliveries_per_notification(conn: Connection) -> Counter[str]:
    query = select(deliveries.c.notification_id)
    return Counter(conn.execute(query).scalars())


def job_ids(conn: Connection) -> dict[str, str]:
    """Every ingest job: id -> status."""
    return dict(conn.execute(select(ingest_jobs.c.id, ingest_jobs.c.status)).all())


def sources(conn: Connection, job_id: str) -> dict[str, frozenset[str]]:
    """For each notification of ``job_id``: the entities whose changes made it fire.

    Read from the explanation stored with it (which lists every match when there are at most
    ``MAX_MATCHES``, as in these tests).
    """
    query = select(notifications.c.id, notifications.c.explanation).where(
        notifications.c.job_id == job_id, notifications.c.family == "notification"
    )
    found: dict[str, frozenset[str]] = {}
    for note_id, explanation in conn.execute(query):
        told = unpack(explanation)
        assert "more_matches" not in told, "an explanation that lists only some matches"
        found[note_id] = frozenset(match["entity"] for match in told["matches"])
    return found


def drain(url: str, *, ahead: float = 3600.0) -> int:
    """Deliver everything due ``ahead`` seconds from now (past every lease), then return.

    Runs in a process of its own (see ``drain_in_process``) so that it does not share a GIL
    with a receiver in the test's process.
    """
    import asyncio
    from datetime import timedelta

    from deltahook.clock import utc_now
    from deltahook.delivery.dispatcher import Dispatcher, DispatcherOptions
    from deltahook.store.db import open_engine

    later = utc_now() + timedelta(seconds=ahead)
    options = DispatcherOptions(
        worker_id="rescuer", purge_every=None, listen=False, allow_private=True
    )
    db = open_engine(url)
    try:
        rescuer = Dispatcher(db, options=options, clock=lambda: later)
        return asyncio.run(rescuer.run(once=True)).delivered
    finally:
        db.dispose()


def drain_in_process(url: str) -> int:
    """``drain(url)`` in a child process; returns how many it delivered."""
    code = f"from tests.scale_support import drain; print(drain({url!r}))"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr.decode()
    return int(done.stdout.split()[-1])
