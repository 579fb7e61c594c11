"""PostgreSQL figures: the 100k-SKU full-feed ingest at 1% changed, and delivery throughput
with one and with two dispatcher processes.

``python -m bench.postgres`` (or ``python bench/postgres.py``) prints the figures. Everything
runs in schemas of its own on the server (``--url``, default the test server), dropped at the
end; every timed part runs in a fresh process.

- **Ingest**: the SKU feeds of ``bench/data.py`` (``--n`` SKUs), ``mode="full"`` with the
  shipped rules, as in the SQLite suite. The first load of ``v1`` is timed once; then the
  1%-changed feed and ``v1`` again alternate (each changes 1% of the SKUs against what is
  stored). The first 1% ingest runs right after the first load, with only the statistics the
  load left (the engine analyses after a large insert; autovacuum may not have come round).
  The others follow a database-wide ``ANALYZE``; their median is the figure.
- **Side by side** (``bench/sidebyside.py``): the same 1%-changed ingest on a SQLite file and
  on PostgreSQL, each run on a fresh copy of the same ``v1`` state, interleaved, medians.
- **Delivery**: ``--deliveries`` queued in a fresh schema, delivered by ``Dispatcher.run(once=
  True)`` (the code of ``deltahook deliver --once``) in one or in two processes at once, to
  the fast receiver of ``bench/delivery.py``, every attempt logged; the rate is deliveries over
  the time from the first process's start to the last one's end. Median of ``--repeat``.
"""

from __future__ import annotations

import argparse
import os
import statistics
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

if __package__ in (None, ""):  # run as ``python bench/postgres.py``
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import delivery, sidebyside, table
from bench.data import Feeds, write_feeds

REPO = Path(__file__).resolve().parents[1]
URL = os.environ.get("DELTAHOOK_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
N = 100_000
DELIVERIES = 5_000
CONCURRENCY = 32
ONE_PERCENT = 0.01

# --- schemas -----------------------------------------------------------------------------------


def _dsn(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


@contextmanager
def schema(url: str, label: str) -> Iterator[str]:
    """A fresh schema; yields a URL whose search path is that schema; drops it afterwards."""
    import psycopg

    name = f"bench_{label}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(_dsn(url), autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{name}"')
    try:
        separator = "&" if "?" in url else "?"
        yield f"{url}{separator}options=-csearch_path%3D{name}"
    finally:
        with psycopg.connect(_dsn(url), autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{name}" CASCADE')


def analyze(url: str) -> None:
    import psycopg

    with psycopg.connect(_dsn(url), autocommit=True) as conn:
        conn.execute("ANALYZE")


# --- the children --------------------------------------------------------------------------------


def ingest_child(url: str, feed: str) -> dict[str, Any]:
    """One full-feed SKU ingest with the shipped rules, timed inside its process."""
    from deltahook.config import Settings
    from deltahook.engine import Engine

    with Engine.from_settings(Settings(database_url=url)) as engine:
        started = time.perf_counter()
        result = engine.ingest("sku", Path(feed), mode="full")
        seconds = time.perf_counter() - started
    return {"seconds": seconds, "counts": result.counts.as_dict()}


def dispatch_child(url: str, worker: str) -> dict[str, Any]:
    """Deliver what is due, then stop; the wall-clock start and end for the rate."""
    import asyncio

    from deltahook.delivery.dispatcher import Dispatcher, DispatcherOptions
    from deltahook.store.db import open_engine

    engine = open_engine(url)
    dispatcher = Dispatcher(engine, options=DispatcherOptions(worker_id=worker, allow_private=True))
    start = time.time()
    stats = asyncio.run(dispatcher.run(once=True))
    end = time.time()
    engine.dispose()
    return {"start": start, "end": end, "delivered": stats.delivered}


def _child(*args: str) -> subprocess.Popen[bytes]:
    env = os.environ | {"PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "bench.postgres", *args]
    return subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE)


def _result(child: subprocess.Popen[bytes]) -> dict[str, Any]:
    out, _ = child.communicate()
    if child.returncode:
        raise RuntimeError(f"{child.args!r} failed with exit code {child.returncode}")
    result: dict[str, Any] = orjson.loads(out.splitlines()[-1])
    return result


# --- the measurements ----------------------------------------------------------------------------


def ingest_figures(url: str, feeds: Feeds, repeat: int) -> dict[str, Any]:
    """First load, one 1% ingest right after it, then ``repeat`` after it (alternating)."""
    changed, first = str(feeds.path("sku", ONE_PERCENT)), str(feeds.path("sku"))
    with schema(url, "ingest") as db:
        load = _result(_child("ingest", db, first))
        cold = _result(_child("ingest", db, changed))
        analyze(db)
        warm = [_result(_child("ingest", db, (first, changed)[k % 2])) for k in range(repeat)]
    return {"n": feeds.n, "first_load": load, "cold": cold, "warm": warm}


def delivery_figures(url: str, n: int, processes: int, repeat: int) -> list[float]:
    """Deliveries per second with ``processes`` dispatchers, one fresh schema per run."""
    receiver = delivery._python("serve", stdout=subprocess.PIPE)
    assert receiver.stdout is not None
    port = int(receiver.stdout.readline())
    target = f"http://127.0.0.1:{port}/hooks"
    rates = []
    try:
        for _ in range(repeat):
            with schema(url, "delivery") as db:
                delivery.prepare(db, target, n, CONCURRENCY)
                children = [_child("dispatch", db, f"bench-{k}") for k in range(processes)]
                runs = [_result(child) for child in children]
            delivered = sum(r["delivered"] for r in runs)
            if delivered != n:
                raise RuntimeError(f"{delivered} of {n} delivered")
            seconds = max(r["end"] for r in runs) - min(r["start"] for r in runs)
            rates.append(n / seconds)
        received = delivery.receiver_stats(port)["count"]
        if received != n * repeat:
            raise RuntimeError(f"the receiver got {received} requests for {n * repeat}")
    finally:
        receiver.terminate()
        receiver.communicate()
    return rates


def _rate(count: int, seconds: float) -> str:
    return f"{count / seconds:,.0f}/s ({seconds:.1f} s)"


def report(ingest: dict[str, Any], deliveries: dict[int, list[float]], n: int) -> None:
    load, cold, warm = ingest["first_load"], ingest["cold"], ingest["warm"]
    received = load["counts"]["received"]
    print(f"PostgreSQL, {ingest['n']:,} SKUs, full feed with the shipped rules:")
    print(f"  first load: {_rate(received, load['seconds'])}")
    print(f"  1% changed, right after the first load: {_rate(received, cold['seconds'])}")
    seconds = statistics.median(w["seconds"] for w in warm)
    counts = warm[0]["counts"]
    print(
        f"  1% changed, after a database-wide ANALYZE, median of {len(warm)}: "
        f"{_rate(received, seconds)}; "
        f"{counts['updated']:,} updated, {counts['notifications']:,} notifications"
    )
    for processes, rates in deliveries.items():
        print(
            f"delivery, {n:,} deliveries, concurrency {CONCURRENCY} per process, "
            f"{processes} dispatcher process(es): {statistics.median(rates):,.0f}/s "
            f"(runs: {', '.join(f'{r:,.0f}' for r in rates)})"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command")
    ingest_cmd = sub.add_parser("ingest")
    ingest_cmd.add_argument("db")
    ingest_cmd.add_argument("feed")
    dispatch_cmd = sub.add_parser("dispatch")
    dispatch_cmd.add_argument("db")
    dispatch_cmd.add_argument("worker")
    parser.add_argument("--url", default=URL)
    parser.add_argument("--n", type=int, default=N)
    parser.add_argument("--deliveries", type=int, default=DELIVERIES)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--work", type=Path, help="keep the generated feeds here and reuse them")
    args = parser.parse_args(argv)
    if args.command == "ingest":
        print(orjson.dumps(ingest_child(args.db, args.feed)).decode())
    elif args.command == "dispatch":
        print(orjson.dumps(dispatch_child(args.db, args.worker)).decode())
    else:
        run(args)


def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="deltahook-bench-pg-") as tmp:
        folder = args.work or Path(tmp)
        feeds = Feeds(folder / f"data-{args.n}", args.n, 1)
        if not feeds.path("sku", ONE_PERCENT).exists():
            feeds = write_feeds(feeds.directory, n=args.n, kinds=("sku",), fractions=[0.01])
        ingest = ingest_figures(args.url, feeds, args.repeat)
        side = list(sidebyside.suite_rows(feeds, folder, url=args.url, runs=args.repeat))
        deliveries = {
            k: delivery_figures(args.url, args.deliveries, k, args.repeat) for k in (1, 2)
        }
    report(ingest, deliveries, args.deliveries)
    print(f"\nside by side (load average {os.getloadavg()[0]:.2f} at the end):")
    print(table.render(side))


if __name__ == "__main__":
    main()
