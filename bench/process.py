"""Whole processes side by side: ``deltahook ingest`` against DuckDB and a dict of hashes.

Issue 18 aim 1. Each run is a fresh process timed from start to exit by its CPU (user + sys,
from ``wait4``; DuckDB's threads included): the ``deltahook ingest --mode full`` CLI into a
fresh copy of a store holding ``v1`` of the SKU feed, and the ``bench.antijoin`` processes on
a state made once from ``v1`` (DuckDB's table of key and row hash; the file of line hashes).
The variants run in turn (A B C ... A B C ...), each reduced to its median. Beside them, the
detection step alone (``bench.step``): deltahook's ingest after its start-up, and the dict
process's work after its own, each timed inside its process.

``python -m bench.process [--n 100000] [--repeat 3] [--work DIR]`` generates the feeds and a
store (``ingest --baseline`` of ``v1``) and prints the rows; ``python -m bench`` adds them.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from bench import data
from bench import table as t
from bench.measure import REPO, checkpoint, copy_db
from bench.table import Row

AIM_DUCKDB = 0.5  # deltahook's whole process at most half of DuckDB's
AIM_FLOOR = 2.0  # and at most twice the dict of line hashes
CHANGED = {"1%": 0.01, "0%": 0.0}
Log = Callable[[str], None]


def duckdb_installed() -> bool:
    return importlib.util.find_spec("duckdb") is not None


def environment() -> dict[str, str]:
    """The children's: bytecode written and read, as after an install (with
    ``PYTHONDONTWRITEBYTECODE`` set, every run would compile deltahook's sources again)."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def compiled() -> None:
    """deltahook's sources compiled to bytecode before any run is timed."""
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(REPO / "src")],
        cwd=REPO,
        env=environment(),
        stdout=subprocess.DEVNULL,
        check=True,
    )


def cpu(args: list[str]) -> float:
    """CPU seconds (user + sys) of one run of ``python ARGS``, from start to exit."""
    process = subprocess.Popen(
        [sys.executable, *args],
        cwd=REPO,
        env=environment(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert process.stderr is not None
    err = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"failed: python {' '.join(args)}\n{err.decode()[-2000:]}")
    return usage.ru_utime + usage.ru_stime


def step_cpu(args: list[str]) -> float:
    """The CPU seconds a ``bench.step`` process prints for its timed part."""
    done = subprocess.run(
        [sys.executable, *args], cwd=REPO, env=environment(), capture_output=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"failed: python {' '.join(args)}\n{done.stderr.decode()[-2000:]}")
    return float(done.stdout.split()[-1])


def commands(feeds: data.Feeds, store: Path, work: Path) -> dict[tuple[str, str], list[str]]:
    """The measured command lines: (who, changed) -> ``python`` arguments (a ``-step`` who:
    a ``bench.step`` process, which prints the CPU of its part after start-up)."""
    run_db = store.with_name("process-run.db")
    found: dict[tuple[str, str], list[str]] = {}
    for label, fraction in CHANGED.items():
        feed = str(feeds.path("sku", fraction))
        found[("deltahook", label)] = [
            *["-m", "deltahook", "--database-url", f"sqlite:///{run_db}"],
            *["ingest", "sku", feed, "--mode", "full"],
        ]
        for who in ("duckdb", "dict"):
            state, out = work / f"{who}.state", work / f"{who}.out"
            found[(who, label)] = ["-m", "bench.antijoin", who, str(state), feed, str(out)]
        found[("deltahook-step", label)] = ["-m", "bench.step", "deltahook", str(run_db), feed]
        state, out = work / "dict.state", work / "dict.out"
        found[("dict-step", label)] = ["-m", "bench.step", "dict", str(state), feed, str(out)]
    return found


def measure(
    feeds: data.Feeds, store: Path, work: Path, *, runs: int, log: Log = print
) -> dict[tuple[str, str], float]:
    """Median CPU seconds of each (who, changed), runs interleaved; states made first."""
    compiled()
    for who in ("duckdb", "dict"):
        cpu(
            [
                "-m",
                "bench.antijoin",
                f"{who}-state",
                str(work / f"{who}.state"),
                str(feeds.path("sku")),
            ]
        )
    lines = commands(feeds, store, work)
    seen: dict[tuple[str, str], list[float]] = {key: [] for key in lines}
    for run in range(runs):
        log(f"whole processes, run {run + 1} of {runs}")
        for key, args in lines.items():
            if key[0] == "deltahook":
                copy_db(store, Path(args[3].removeprefix("sqlite:///")))
            if key[0] == "deltahook-step":
                copy_db(store, Path(args[3]))
            seen[key].append(step_cpu(args) if key[0].endswith("-step") else cpu(args))
    return {key: statistics.median(values) for key, values in seen.items()}


def rows(medians: dict[tuple[str, str], float], n: int) -> Iterator[Row]:
    """For 1% and 0% changed: deltahook against DuckDB, and against the dict of hashes."""
    for label in CHANGED:
        ours, duck, floor = (medians[(who, label)] for who in ("deltahook", "duckdb", "dict"))
        yield Row(
            measure=f"whole process: `deltahook ingest --mode full`, {t.count(n)} SKUs, "
            f"{label} changed",
            figure=f"{ours:.2f} s CPU",
            baseline=f"DuckDB anti-join on key and row hash: {duck:.2f} s CPU",
            ratio=f"{ours / duck:.2f}x DuckDB",
            aim=f"≤ {AIM_DUCKDB}x DuckDB",
            met=t.verdict(ours <= AIM_DUCKDB * duck),
        )
        yield Row(
            measure=f"same, against the dict of line hashes ({label} changed)",
            figure=f"{ours:.2f} s CPU",
            baseline=f"Python set of stored xxh3-128 line hashes: {floor:.2f} s CPU",
            ratio=f"{ours / floor:.2f}x the dict",
            aim=f"≤ {AIM_FLOOR}x the dict (the aim is the detection step's: next row)",
            met=t.verdict(ours <= AIM_FLOOR * floor),
        )
        step, floor_step = (medians[(who, label)] for who in ("deltahook-step", "dict-step"))
        yield Row(
            measure=f"detection step: the ingest after start-up ({label} changed)",
            figure=f"{step:.2f} s CPU",
            baseline=f"the dict process after its start-up: {floor_step:.2f} s CPU",
            ratio=f"{step / floor_step:.2f}x the dict",
            aim=f"≤ {AIM_FLOOR}x the dict",
            met=t.verdict(step <= AIM_FLOOR * floor_step),
        )


def skipped() -> Row:
    return Row(
        measure="whole process: `deltahook ingest` against DuckDB and the dict of line hashes",
        figure="not measured: duckdb is not installed (`pip install -e '.[bench]'`)",
        aim=f"≤ {AIM_DUCKDB}x DuckDB, ≤ {AIM_FLOOR}x the dict",
        met="-",
    )


def suite_rows(feeds: data.Feeds, store: Path, *, runs: int, log: Log = print) -> Iterator[Row]:
    """The rows ``python -m bench`` shows (a note instead when duckdb is not installed)."""
    if not duckdb_installed():
        yield skipped()
        return
    medians = measure(feeds, store, store.parent, runs=runs, log=log)
    yield from rows(medians, feeds.n)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.process", description=__doc__)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--work", type=Path, default=Path("/tmp/deltahook-bench-process"))
    args = parser.parse_args(argv)
    feeds = data.Feeds(args.work / "data", args.n, 1)
    if not feeds.path("sku", 0.01).exists():
        data.write_feeds(feeds.directory, n=args.n, seed=1, fractions=(0.01,), kinds=("sku",))
    store = args.work / "template.db"
    if not store.exists():
        url = ["-m", "deltahook", "--database-url", f"sqlite:///{store}"]
        cpu([*url, "ingest", "sku", str(feeds.path("sku")), "--mode", "full", "--baseline"])
        checkpoint(store)
    before = os.getloadavg()
    found = list(suite_rows(feeds, store, runs=args.repeat))
    after = os.getloadavg()
    print(f"load average {before[0]:.2f} before, {after[0]:.2f} after (1 min)\n")
    print(t.render(found))


if __name__ == "__main__":
    main()
