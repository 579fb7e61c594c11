"""PostgreSQL: what vacuuming buys the nightly full feed (migration 0019's figures).

``python -m bench.vacuum [--n 100000] [--nights 8] [--url URL]`` loads ``v1`` of the SKU feed
(``bench/data.py``) with ``--baseline`` into two databases, ``VACUUM ANALYZE``, then runs
``--nights`` full feeds, each changing another 1% of the SKUs against the night before, into
both: one never vacuumed, one vacuumed (plain ``VACUUM``, timed) after each night. Before each
night it prints, per database, the ``EXPLAIN (ANALYZE, BUFFERS)`` of the line-hash scan every
ingest starts with (``store/linescan.py``: heap fetches, buffers, time), then the ingest's time
(in a fresh process, as ``bench/postgres.py`` times it). Run it where autovacuum is off, or it
may vacuum the "never vacuumed" store too (the first line says whether it is on).

Each store is a database of its own (created and dropped here), not a schema: ``VACUUM`` marks
a page all-visible only once no transaction of the same database can still see its old rows,
and on a shared test database other sessions' open transactions hold that back.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import make_url

if __package__ in (None, ""):  # run as ``python bench/vacuum.py``
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import data, postgres

SCAN = (
    'SELECT line_hash, "key" FROM entities WHERE kind = %s AND line_hash IS NOT NULL '
    "ORDER BY line_hash"
)
VACUUMED = ("entities", "deliveries", "ingest_jobs", "notifications", "change_log")


def write_nights(feeds: data.Feeds, nights: int) -> list[Path]:
    """Night ``k``'s feed: night ``k - 1``'s (``v1`` for the first) with another 1% changed."""
    paths, previous = [], feeds.path("sku")
    for night in range(1, nights + 1):
        picker = data._Picker(random.Random(f"{feeds.seed}:night:{night}"), 0.01)
        path = feeds.directory / f"sku.night{night}.ndjson"
        with previous.open("rb") as source, path.open("wb") as out:
            for line in source:
                if picker.next():
                    changed = data.mutate_sku(picker.rng, orjson.loads(line))
                    out.write(orjson.dumps(changed) + b"\n")
                else:
                    out.write(line)
        paths.append(path)
        previous = path
    return paths


@contextmanager
def database(url: str, label: str) -> Iterator[str]:
    """A fresh database on ``url``'s server; yields its URL; drops it afterwards."""
    name = f"deltahook_bench_{label}_{uuid.uuid4().hex[:8]}"
    with _connect(url) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield str(make_url(url).set(database=name).render_as_string(hide_password=False))
    finally:
        with _connect(url) as conn:
            conn.execute(f'DROP DATABASE "{name}"')


def _connect(db: str) -> Any:
    import psycopg

    return psycopg.connect(postgres._dsn(db), autocommit=True)


def scan(db: str) -> dict[str, Any]:
    """The line-hash scan's heap fetches, buffers and time, and the table's dead rows."""
    with _connect(db) as conn:
        plan = "\n".join(r[0] for r in conn.execute(f"EXPLAIN (ANALYZE, BUFFERS) {SCAN}", ("sku",)))
        dead = conn.execute(
            "SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = 'entities'"
        ).fetchone()[0]

    def found(pattern: str) -> float:
        match = re.search(pattern, plan)
        return float(match.group(1)) if match else 0.0

    return {
        "index_only": "Index Only Scan" in plan,
        "heap_fetches": int(found(r"Heap Fetches: (\d+)")),
        "hit": int(found(r"shared hit=(\d+)")),
        "read": int(found(r"read=(\d+)")),
        "ms": found(r"Execution Time: ([\d.]+)"),
        "dead": dead,
    }


def vacuum(db: str, *, analyze: bool = False) -> float:
    started = time.perf_counter()
    with _connect(db) as conn:
        conn.execute(f"VACUUM {'(ANALYZE) ' if analyze else ''}{', '.join(VACUUMED)}")
    return time.perf_counter() - started


def load(db: str, feed: Path) -> float:
    """The baseline load of ``feed`` by ``deltahook ingest --baseline``, timed."""
    started = time.perf_counter()
    env = os.environ | {"DELTAHOOK_DATABASE_URL": db}
    command = [sys.executable, "-m", "deltahook", "ingest", "sku", str(feed), "--baseline"]
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def _row(night: int, label: str, found: dict[str, Any], seconds: float, extra: str) -> None:
    print(
        f"night {night:2d} {label:14s} {'index-only' if found['index_only'] else 'other plan'} "
        f"heap fetches {found['heap_fetches']:>8,} "
        f"buffers hit {found['hit']:>8,} read {found['read']:>8,} scan {found['ms']:7.1f} ms "
        f"dead {found['dead']:>7,} | ingest {seconds:6.2f} s{extra}",
        flush=True,
    )


def run(url: str, n: int, nights: int, work: Path) -> None:
    feeds = data.Feeds(work / f"data-{n}", n, 1)
    if not feeds.path("sku").exists():
        feeds = data.write_feeds(feeds.directory, n=n, kinds=("sku",), fractions=())
    paths = write_nights(feeds, nights)
    with _connect(url) as conn:
        autovacuum = conn.execute("SHOW autovacuum").fetchone()[0]
    print(f"{n:,} SKUs, {nights} nights of 1% changed, autovacuum {autovacuum}", flush=True)
    with database(url, "never") as never, database(url, "nightly") as nightly:
        for db in (never, nightly):
            seconds = load(db, feeds.path("sku"))
            vacuum(db, analyze=True)
            print(f"baseline load {seconds:.1f} s, then VACUUM ANALYZE", flush=True)
        for night, path in enumerate(paths, 1):
            for label, db in (("never vacuumed", never), ("vacuumed", nightly)):
                found = scan(db)
                result = postgres._result(postgres._child("ingest", db, str(path)))
                extra = f", VACUUM {vacuum(db):.2f} s" if db == nightly else ""
                _row(night, label, found, result["seconds"], extra)
        found, seconds = scan(never), vacuum(never)
        print(f"never vacuumed, after night {nights}: {found}; VACUUM {seconds:.2f} s")
        print(f"then: {scan(never)}")
    print(f"load average {os.getloadavg()[0]:.2f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default=postgres.URL)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--nights", type=int, default=8)
    parser.add_argument("--work", type=Path, help="keep the generated feeds here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="deltahook-bench-vacuum-") as tmp:
        run(args.url, args.n, args.nights, args.work or Path(tmp))


if __name__ == "__main__":
    main()
