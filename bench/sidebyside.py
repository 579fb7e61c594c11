"""SQLite against PostgreSQL, side by side: the nightly full-feed SKU ingest on each store.

Issue 18 aim 2's last clause: the 100k-SKU full feed at 1% changed, shipped rules, on
PostgreSQL within 1.5x of the same ingest on SQLite. Both stores start each run from the same
state, ``ingest --baseline`` of ``v1`` of the feed (then analysed, vacuumed, checkpointed): for
SQLite a fresh copy of a template file, for PostgreSQL a fresh database made from a template
database (``CREATE DATABASE ... TEMPLATE``, a file copy, like the SQLite one). Each run is a fresh
process timing ``Engine.ingest(mode="full")`` of the 1%-changed feed, the same code path on both;
the two stores take turns (S P S P ...), each reduced to its median.

Two figures per store: the wall-clock time of the ingest, and its CPU time, the process's
(user + sys) plus, on PostgreSQL, that of the server processes serving its connections (read
from ``/proc``: the server runs on this machine). The server's background work (WAL writer,
checkpointer, autovacuum) is in neither. The aim is judged on wall-clock time, what a user
waits for; on a loaded machine the CPU ratio is the steadier of the two.

``python -m bench.sidebyside [--n 100000] [--repeat 5] [--work DIR] [--url URL]`` prints the
row with the load average; ``python -m bench.postgres`` and ``python -m bench`` add it (a "not
measured" row when no server answers). The databases it makes are named ``deltahook_bench_*``
and dropped at the end.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

if __package__ in (None, ""):  # run as ``python bench/sidebyside.py``
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import data
from bench import table as t
from bench.measure import REPO, checkpoint, copy_db
from bench.table import Row

URL = os.environ.get("DELTAHOOK_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
AIM = 1.5  # PostgreSQL's ingest at most 1.5x SQLite's
CHANGED = 0.01
STORES = ("sqlite", "postgresql")
Log = Callable[[str], None]


def _dsn(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def _with_database(url: str, name: str) -> str:
    base, _, query = _dsn(url).partition("?")
    return f"{base.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")


def server_problem(url: str) -> str | None:
    """Why the PostgreSQL server at ``url`` cannot be used, or None when it answers."""
    try:
        import psycopg

        with psycopg.connect(_dsn(url), connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # any failure means "not measured", with the reason
        return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc) else ''}"
    return None


def _admin(url: str, *statements: str) -> None:
    import psycopg

    with psycopg.connect(_dsn(url), autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


# --- the stores ----------------------------------------------------------------------------------


@dataclass(kw_only=True)
class Stores:
    """The two templates holding ``v1``, and where each run's fresh copy goes."""

    url: str
    sqlite_template: Path
    pg_template: str  # a database name

    def fresh(self, store: str) -> str:
        """A fresh copy of the template of ``store``; its URL."""
        if store == "sqlite":
            run = self.sqlite_template.with_name("sidebyside-run.db")
            copy_db(self.sqlite_template, run)
            return f"sqlite:///{run}"
        name = f"deltahook_bench_run_{uuid.uuid4().hex[:8]}"
        _admin(
            self.url,
            f'CREATE DATABASE "{name}" TEMPLATE "{self.pg_template}" STRATEGY FILE_COPY',
        )
        return _with_database(self.url, name)

    def drop(self, store: str, url: str) -> None:
        if store == "postgresql":
            _admin(self.url, f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


@contextmanager
def stores(url: str, feeds: data.Feeds, work: Path, *, log: Log = print) -> Iterator[Stores]:
    """Both templates, loaded with ``v1`` as a baseline; the PostgreSQL one dropped after."""
    work.mkdir(parents=True, exist_ok=True)
    sqlite_template = work / "sidebyside-template.db"
    pg_template = f"deltahook_bench_tpl_{uuid.uuid4().hex[:8]}"
    _admin(url, f'CREATE DATABASE "{pg_template}"')
    try:
        for label, store_url in (
            ("SQLite", f"sqlite:///{sqlite_template}"),
            ("PostgreSQL", _with_database(url, pg_template)),
        ):
            log(f"side by side: baseline load of v1 into {label}")
            if label == "SQLite":
                for stale in work.glob("sidebyside-template.db*"):
                    stale.unlink()
            _run_child("load", store_url, str(feeds.path("sku")))
        checkpoint(sqlite_template)
        # As a nightly store would be: statistics current, the load's rows vacuumed and frozen.
        _admin(_with_database(url, pg_template), "VACUUM (FREEZE, ANALYZE)", "CHECKPOINT")
        yield Stores(url=url, sqlite_template=sqlite_template, pg_template=pg_template)
    finally:
        _admin(url, f'DROP DATABASE IF EXISTS "{pg_template}" WITH (FORCE)')


# --- the child: one ingest in a fresh process --------------------------------------------------


def _backend_cpu(pids: set[int]) -> float:
    """CPU seconds (user + sys) the server processes ``pids`` have used so far."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


def _backends(url: str, name: str) -> set[int]:
    """Process ids of the server processes serving connections named ``name``."""
    import psycopg

    query = "SELECT pid FROM pg_stat_activity WHERE application_name = %s"
    with psycopg.connect(_dsn(url).partition("?")[0], autocommit=True) as conn:
        return {pid for (pid,) in conn.execute(query, (name,))}


def child(url: str, feed: str, *, baseline: bool = False) -> dict[str, Any]:
    """One full-feed SKU ingest with the shipped rules: wall and CPU of the ``ingest`` call."""
    from deltahook.config import Settings
    from deltahook.engine import Engine

    postgres = url.startswith("postgresql")
    name = f"deltahook_bench_{os.getpid()}"
    if postgres:  # the server processes of this run are found by this name
        url = f"{url}{'&' if '?' in url else '?'}application_name={name}"
    with Engine.from_settings(Settings(database_url=url)) as engine:
        backends = _backends(url, name) if postgres else set()
        server_before = _backend_cpu(backends)
        usage_before = resource.getrusage(resource.RUSAGE_SELF)
        started = time.perf_counter()
        result = engine.ingest("sku", Path(feed), mode="full", baseline=baseline)
        seconds = time.perf_counter() - started
        usage = resource.getrusage(resource.RUSAGE_SELF)
        if postgres:
            backends |= _backends(url, name)
        server = _backend_cpu(backends) - server_before
    client = (usage.ru_utime - usage_before.ru_utime) + (usage.ru_stime - usage_before.ru_stime)
    return {
        "seconds": seconds,
        "client_cpu": client,
        "server_cpu": server,
        "counts": result.counts.as_dict(),
    }


def _run_child(command: str, url: str, feed: str) -> dict[str, Any]:
    env = os.environ | {"PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-m", "bench.sidebyside", command, url, feed],
        cwd=REPO,
        env=env,
        capture_output=True,
        check=False,
    )
    if done.returncode:
        raise RuntimeError(f"{command} {url} failed:\n{done.stderr.decode()[-3000:]}")
    result: dict[str, Any] = orjson.loads(done.stdout.splitlines()[-1])
    return result


# --- the measurement and its row ---------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Figures:
    """Medians of one store's runs."""

    seconds: float
    cpu: float
    server_cpu: float
    runs: int
    counts: dict[str, int]


def measure(found: Stores, feeds: data.Feeds, *, runs: int, log: Log = print) -> dict[str, Figures]:
    """The two stores in turn, ``runs`` each, every run on a fresh copy of its template."""
    feed = str(feeds.path("sku", CHANGED))
    seen: dict[str, list[dict[str, Any]]] = {store: [] for store in STORES}
    for run in range(runs):
        log(f"side by side, run {run + 1} of {runs} (load {os.getloadavg()[0]:.2f})")
        for store in STORES:
            url = found.fresh(store)
            try:
                outcome = _run_child("ingest", url, feed)
            finally:
                found.drop(store, url)
            seen[store].append(outcome)
            cpu = outcome["client_cpu"] + outcome["server_cpu"]
            log(f"  {store}: {outcome['seconds']:.2f} s wall, {cpu:.2f} s CPU")
    counts = {store: outcomes[0]["counts"] for store, outcomes in seen.items()}
    if counts["sqlite"] != counts["postgresql"]:  # the same work, or the ratio means nothing
        raise RuntimeError(f"the stores did different work: {counts}")
    return {store: _median(outcomes) for store, outcomes in seen.items()}


def _median(outcomes: list[dict[str, Any]]) -> Figures:
    median = statistics.median
    return Figures(
        seconds=median(o["seconds"] for o in outcomes),
        cpu=median(o["client_cpu"] + o["server_cpu"] for o in outcomes),
        server_cpu=median(o["server_cpu"] for o in outcomes),
        runs=len(outcomes),
        counts=outcomes[0]["counts"],
    )


def row(figures: dict[str, Figures], n: int, load: tuple[float, float]) -> Row:
    lite, pg = figures["sqlite"], figures["postgresql"]
    wall, cpu = pg.seconds / lite.seconds, pg.cpu / lite.cpu
    return Row(
        measure=f"PostgreSQL against SQLite: full SKU feed, 1% changed ({t.count(n)} SKUs), "
        f"interleaved, median of {pg.runs}; load {load[0]:.1f}-{load[1]:.1f}",
        figure=f"PostgreSQL {t.seconds(pg.seconds)} wall, {t.seconds(pg.cpu)} CPU "
        f"({t.seconds(pg.server_cpu)} of it the server's)",
        baseline=f"SQLite file: {t.seconds(lite.seconds)} wall, {t.seconds(lite.cpu)} CPU",
        ratio=f"{wall:.2f}x wall, {cpu:.2f}x CPU",
        aim=f"≤ {AIM:g}x SQLite (wall)",
        met=t.verdict(wall <= AIM),
    )


def skipped(reason: str) -> Row:
    return Row(
        measure="PostgreSQL against SQLite: full SKU feed, 1% changed",
        figure=f"not measured: no PostgreSQL server answers ({reason})",
        aim=f"≤ {AIM:g}x SQLite (wall)",
        met="-",
    )


def suite_rows(
    feeds: data.Feeds, work: Path, *, url: str = URL, runs: int, log: Log = print
) -> Iterator[Row]:
    """The row ``python -m bench`` shows (a note instead when no server answers)."""
    problem = server_problem(url)
    if problem is not None:
        yield skipped(problem)
        return
    with stores(url, feeds, work, log=log) as found:
        before = os.getloadavg()[0]
        figures = measure(found, feeds, runs=runs, log=log)
        after = os.getloadavg()[0]
    yield row(figures, feeds.n, (min(before, after), max(before, after)))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.sidebyside", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    for name in ("ingest", "load"):
        command = sub.add_parser(name)
        command.add_argument("db")
        command.add_argument("feed")
    parser.add_argument("--url", default=URL)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--work", type=Path, default=Path("/tmp/deltahook-bench-sidebyside"))
    args = parser.parse_args(argv)
    if args.command is not None:
        outcome = child(args.db, args.feed, baseline=args.command == "load")
        print(orjson.dumps(outcome).decode())
        return
    feeds = data.Feeds(args.work / f"data-{args.n}", args.n, 1)
    if not feeds.path("sku", CHANGED).exists():
        data.write_feeds(feeds.directory, n=args.n, seed=1, fractions=(CHANGED,), kinds=("sku",))
    before = os.getloadavg()
    found = list(suite_rows(feeds, args.work, url=args.url, runs=args.repeat))
    after = os.getloadavg()
    print(f"load average {before[0]:.2f} before, {after[0]:.2f} after (1 min)\n")
    print(t.render(found))


if __name__ == "__main__":
    main()
