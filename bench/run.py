"""``python -m bench``: measure deltahook beside its baselines; print and save the table.

Options: ``--n`` (SKUs, default 100k), ``--child-n`` (SKUs behind the price and stock feeds,
default 10k), ``--large`` (add the 1M point to the scaling rows), ``--repeat`` (runs per short
measurement), ``--profile DIR`` (py-spy summaries of the 1% and 0% ingests), ``--work DIR``
(keep data and databases there and reuse them), ``--out``.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

if __package__ in (None, ""):  # run as ``python bench/run.py``
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import data
from bench.measure import REPO, SHORT_RUN_S, code_fingerprint
from bench.suite import LARGE_N, Options, Suite
from bench.table import Row, count, render


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100_000, help="SKUs in the main feeds")
    parser.add_argument("--large", action="store_true", help="add 1M SKUs to the scaling rows")
    parser.add_argument("--scaling", type=int, nargs="*", default=[10_000], help="extra sizes")
    parser.add_argument("--repeat", type=int, default=3, help="runs of a short measurement")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=2_000)
    parser.add_argument("--sample", type=int, default=2_000, help="pairs for naive DeepDiff")
    parser.add_argument("--kinds", nargs="+", default=list(data.KINDS), choices=data.KINDS)
    parser.add_argument("--child-n", type=int, default=10_000, help="SKUs of price/stock feeds")
    parser.add_argument("--profile", type=Path, metavar="DIR", help="write py-spy summaries")
    parser.add_argument("--no-delivery", action="store_true", help="skip bench/delivery.py")
    parser.add_argument("--work", type=Path, metavar="DIR", help="keep and reuse data here")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "RESULTS.md")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    scaling = tuple(sorted({*args.scaling, args.n, *([LARGE_N] if args.large else [])}))
    options = Options(
        n=args.n,
        scaling=scaling,
        repeat=args.repeat,
        seed=args.seed,
        batch_size=args.batch_size,
        sample=args.sample,
        kinds=tuple(k for k in data.KINDS if k in args.kinds),
        child_n=args.child_n,
        delivery=not args.no_delivery,
        profile_dir=args.profile,
    )
    started, load_before = time.perf_counter(), os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="deltahook-bench-") as scratch:
        work = args.work or Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        suite = Suite(options=options, work=work, log=_log)
        rows = list(suite.rows())
    elapsed = time.perf_counter() - started
    if code_fingerprint() != suite.code:
        _log("deltahook's code changed during the run: the figures may mix versions")
        rows.append(Row(measure="warning", figure="deltahook's code changed during this run"))
    load = f"{load_before[0]:.2f} before, {os.getloadavg()[1]:.2f} over the last 5 min at the end"
    report = _report(rows, options, suite.rules_loaded, elapsed, load, argv)
    print(report)
    args.out.write_text(report, encoding="utf-8")
    _log(f"written to {args.out}")


def _log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def _report(
    rows: list[Row],
    options: Options,
    rules: bool,
    elapsed: float,
    load: str,
    argv: list[str] | None,
) -> str:
    command = " ".join(["python -m bench", *(sys.argv[1:] if argv is None else argv)])
    facts = [
        f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; commit: {_commit()}",
        f"machine: {platform.platform()}; {_cpu()}; {os.cpu_count()} CPUs; "
        f"Python {platform.python_version()}; load average {load} (other work on the machine "
        "slows the figures)",
        f"command: `{command}` ({elapsed / 60:.1f} min in all)",
        f"feeds: {count(options.n)} SKUs (about 1.1 KB each); price (2-4 rows per SKU) and stock "
        f"(2-5) feeds for {count(options.child_n)} SKUs; seed {options.seed}; full mode; SQLite "
        "file (WAL); batch size "
        f"{options.batch_size}; rules: {'shipped rules loaded' if rules else 'none loaded'}",
    ]
    notes = [
        "Each figure comes from a fresh subprocess, so peak RSS (ru_maxrss) is that "
        "measurement's own; 'from' is the RSS after imports and set-up, before the feed.",
        f"Runs shorter than {SHORT_RUN_S:.0f} s (and the 1M-SKU ingest) are repeated "
        f"({options.repeat} in all) and the median time is shown; peak RSS is the largest of the "
        "runs. Every ingest starts from a fresh copy of a database that holds the first version "
        "of every feed, synced to disk, once the kernel's write-back has settled.",
        "Floor: read the file, orjson-parse each line, normalise, serialise with sorted keys and "
        "xxh3-128 hash (deltahook's own canonical functions), nothing retained.",
        "Naive: orjson-parse the old and new record and DeepDiff them (view='tree', "
        "threshold_to_diff_deeper=0, ignore_numeric_type_changes=True) for every entity, on an "
        "evenly spread sample; no database time is counted for it.",
        "GC: share of the timed part spent in the cyclic garbage collector (gc.callbacks).",
        "Whole process: CPU (user + sys) from process start to exit of `deltahook ingest` and "
        "of DuckDB's anti-join and a Python dict of line hashes on the same files, each "
        "baseline's state made once from v1 (bench/process.py; needs the bench extra).",
    ]
    return (
        "# deltahook benchmark results\n\n"
        + "".join(f"- {fact}\n" for fact in facts)
        + "\n"
        + render(rows)
        + "\n"
        + "".join(f"- {note}\n" for note in notes)
    )


def _commit() -> str:
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False)
        return done.stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--", "src", "schemas", "rules")
    return f"{commit} (with uncommitted changes in src/, schemas/ or rules/)" if dirty else commit


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


if __name__ == "__main__":
    main()
