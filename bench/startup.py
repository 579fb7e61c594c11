"""``python -m bench.startup``: the CPU a CLI command spends before it does its work.

Each command runs in a fresh interpreter; its CPU time (user + sys, from ``wait4``) is shown
as a median of ``--repeat`` runs and as a ratio to a bare ``python -c pass``. The commands are
interleaved run by run, so a busy machine slows every one alike. ``--against SRC`` runs the
same commands on another checkout's ``src`` folder (e.g. a commit before a change) beside them.

Issue 18 aim 4 is measured on ``deltahook ingest sku -`` of one SKU line fed through a pipe:
the pipe stays empty until the process blocks reading it (``/proc/PID/syscall``: ``read`` on
descriptor 0), and the CPU it has used by then (``/proc/PID/task/*/schedstat``, every thread)
is its CPU before the first feed byte; the line is written after that, and ``wait4`` gives the
whole run. Nothing in the measured process is changed or hooked. Every command runs once
untimed first (bytecode written, the schema cache filled: a warm start, as after install);
the same ingest with an empty schema cache each time is shown too (a first run after an edit).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson

from bench import data
from bench import table as t
from bench.measure import REPO, copy_db
from bench.table import Row

AIM_S = 0.3  # CPU before the first feed byte (issue 18 aim 4)
STOCK = {
    "PartNo": "P1",
    "WarehouseCode": "STO",
    "WarehouseId": 3,
    "LocationCode": "A-12",
    "LocationId": 7,
    "OnhandValue": 5,
    "MinimumValue": 3,
}

BARE = "`python -c pass`"
SQLALCHEMY = "`python -c 'import sqlalchemy'`"
RULES = "`deltahook rules check` (shipped rules)"
INGEST = "`deltahook ingest sku -` of one line: CPU before the first feed byte"
INGEST_ALL = "same, the whole run"
COLD = "same with an empty schema cache: before the first byte"
Log = Callable[[str], None]


def commands(work: Path) -> dict[str, list[str]]:
    """The commands measured whole (the database is made before)."""
    (work / "before.json").write_bytes(orjson.dumps(STOCK))
    (work / "after.json").write_bytes(orjson.dumps(STOCK | {"OnhandValue": 0}))
    change = ["--before", str(work / "before.json"), "--after", str(work / "after.json")]
    return {
        BARE: ["-c", "pass"],
        SQLALCHEMY: ["-c", "import sqlalchemy"],
        "`deltahook --help`": ["-m", "deltahook", "--help"],
        RULES: [*deltahook(work), "rules", "check"],
        "`deltahook preview sku_onhand --before --after`": [
            *deltahook(work),
            *["preview", "sku_onhand", *change],
        ],
    }


def deltahook(work: Path) -> list[str]:
    return ["-m", "deltahook", "--database-url", f"sqlite:///{work / 'db.sqlite'}"]


def ingest(work: Path) -> list[str]:
    return [*deltahook(work), "ingest", "sku", "-", "--format", "ndjson", "--mode", "upsert"]


def environment(src: Path, cache: Path) -> dict[str, str]:
    """The child's: ``src`` first on the path, its own schema cache, bytecode written."""
    env = os.environ | {"PYTHONPATH": str(src), "DELTAHOOK_CACHE_DIR": str(cache)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def cpu(args: list[str], env: dict[str, str]) -> float:
    """CPU seconds (user + sys) of one run of ``python ARGS``."""
    process = subprocess.Popen(
        [sys.executable, *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    if process.returncode != 0:
        raise SystemExit(f"failed: python {' '.join(args)}")
    return usage.ru_utime + usage.ru_stime


def first_byte(args: list[str], feed: bytes, env: dict[str, str]) -> tuple[float, float]:
    """CPU seconds of ``python ARGS`` when it first reads its standard input, and in all."""
    process = subprocess.Popen(
        [sys.executable, *args],
        cwd=REPO,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    assert process.stdin is not None
    try:
        while not _reading_stdin(process.pid):
            if process.poll() is not None:
                raise SystemExit(f"ended before reading its feed: python {' '.join(args)}")
            time.sleep(0.0005)
        before = _cpu_so_far(process.pid)
        process.stdin.write(feed)
    finally:
        process.stdin.close()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    if process.returncode != 0:
        raise SystemExit(f"failed: python {' '.join(args)}")
    return before, usage.ru_utime + usage.ru_stime


def _reading_stdin(pid: int) -> bool:
    """True while the process is blocked in ``read(0, ...)`` (syscall 0 on x86-64)."""
    try:
        fields = Path(f"/proc/{pid}/syscall").read_text().split()
    except OSError:
        return False
    return fields[:2] == ["0", "0x0"]


def _cpu_so_far(pid: int) -> float:
    """Seconds on a CPU of every thread of ``pid`` (``schedstat``: nanoseconds)."""
    tasks = Path(f"/proc/{pid}/task")
    return sum(int((task / "schedstat").read_text().split()[0]) for task in tasks.iterdir()) / 1e9


def supported() -> bool:
    """Whether this machine shows a blocked process's system call (Linux x86-64)."""
    return Path(f"/proc/{os.getpid()}/syscall").exists() and os.uname().machine == "x86_64"


def sku_line() -> bytes:
    """One SKU record of the bench's feeds, as an NDJSON line."""
    record = next(iter(data.build_sku(random.Random(1), 0)))
    return orjson.dumps(record) + b"\n"


def measure(
    repeat: int,
    sources: dict[str, Path],
    *,
    store: Path | None = None,
    line: bytes | None = None,
    log: Log = print,
) -> dict[tuple[str, str], float]:
    """The median CPU seconds of each (source, command), runs interleaved after one warm-up.

    ``store``: a database to copy for the ingest (default: an empty one); ``line``: the
    ingested record (default: a generated SKU).
    """
    feed = line or sku_line()
    runs: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="deltahook-startup-") as scratch:
        works = _prepare(Path(scratch), sources, store)
        for run in range(repeat + 1):  # the first run only warms up
            log(f"start-up, run {run} of {repeat}" if run else "start-up, warming up")
            for name, src in sources.items():
                work = works[name]
                env = environment(src, work / "cache")
                found = {label: cpu(args, env) for label, args in commands(work).items()}
                found[INGEST], found[INGEST_ALL] = first_byte(ingest(work), feed, env)
                cold = work / f"cold-{run}"
                found[COLD] = first_byte(ingest(work), feed, environment(src, cold))[0]
                shutil.rmtree(cold, ignore_errors=True)
                for label, figure in found.items():
                    if run:
                        runs.setdefault((name, label), []).append(figure)
    return {key: statistics.median(values) for key, values in runs.items()}


def _prepare(scratch: Path, sources: dict[str, Path], store: Path | None) -> dict[str, Path]:
    """A folder and a database per checkout."""
    works = {}
    for index, (name, src) in enumerate(sources.items()):
        (work := scratch / str(index)).mkdir()
        if store is not None:
            copy_db(store, work / "db.sqlite")
        env = environment(src, work / "cache")
        cpu([*deltahook(work), "db", "upgrade"], env)
        works[name] = work
    return works


def report(medians: dict[tuple[str, str], float], names: list[str], load: str) -> str:
    """A markdown table: each command's CPU and its ratio to ``python -c pass``."""
    lines = [
        f"load average: {load}",
        "",
        "| command | "
        + " | ".join(f"CPU, {n} (ratio to `python -c pass`)" for n in names)
        + " | aim | met? |",
        "|---|" + "---|" * (len(names) + 2),
    ]
    labels = dict.fromkeys(label for _, label in medians)
    for label in labels:
        cells = []
        for name in names:
            bare = medians[(name, BARE)]
            figure = medians[(name, label)]
            cells.append(f"{figure:.3f} s ({figure / bare:.1f}x)")
        aim, met = "", ""
        if label == INGEST:
            aim, met = f"≤ {AIM_S} s", t.verdict(medians[(names[0], label)] <= AIM_S)
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {aim} | {met} |")
    return "\n".join(lines)


def suite_rows(store: Path, line: bytes, n: int, *, runs: int, log: Log = print) -> Iterator[Row]:
    """The row ``python -m bench`` shows: one line ingested into the ``n``-SKU store."""
    measure_ = (
        "start-up: CPU before the first feed byte, `deltahook ingest sku -` of one line "
        f"({t.count(n)}-SKU store, warm schema cache)"
    )
    if not supported():
        yield Row(measure=measure_, figure="not measured: needs Linux x86-64 /proc", met="-")
        return
    medians = measure(runs, {"this": REPO / "src"}, store=store, line=line, log=log)
    figure = medians[("this", INGEST)]
    sqlalchemy = medians[("this", SQLALCHEMY)]
    yield Row(
        measure=measure_,
        figure=f"{figure:.3f} s CPU (whole run {medians[('this', INGEST_ALL)]:.2f} s; "
        f"empty schema cache {medians[('this', COLD)]:.2f} s)",
        baseline=f"{SQLALCHEMY}: {sqlalchemy:.3f} s; {BARE}: {medians[('this', BARE)]:.3f} s",
        ratio=f"{figure / sqlalchemy:.2f}x importing SQLAlchemy",
        aim=f"≤ {AIM_S} s",
        met=t.verdict(figure <= AIM_S),
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.startup", description=__doc__)
    parser.add_argument("--repeat", type=int, default=5, help="runs of each command")
    parser.add_argument("--against", type=Path, metavar="SRC", help="another src folder")
    parser.add_argument("--store", type=Path, help="ingest into a copy of this SQLite file")
    parser.add_argument("--line", type=Path, help="ingest this file's first line")
    args = parser.parse_args(argv)
    if not supported():
        raise SystemExit("needs Linux x86-64 (/proc/PID/syscall)")
    sources = {"this checkout": REPO / "src"}
    if args.against:
        sources["--against"] = args.against
    line = None
    if args.line:
        with args.line.open("rb") as feed:
            line = feed.readline()
    before = os.getloadavg()
    medians = measure(args.repeat, sources, store=args.store, line=line, log=lambda _: None)
    after = os.getloadavg()
    load = f"{before[0]:.2f} before, {after[0]:.2f} at the end (1 min)"
    print(report(medians, list(sources), load))


if __name__ == "__main__":
    main()
