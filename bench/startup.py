"""``python -m bench.startup``: the CPU a CLI command spends before it does its work.

Each command runs in a fresh interpreter; its CPU time (user + sys, from ``wait4``) is shown
as a median of ``--repeat`` runs and as a ratio to a bare ``python -c pass``. The commands are
interleaved run by run, so a busy machine slows every one alike. ``--against SRC`` runs the
same commands on another checkout's ``src`` folder (e.g. a commit before a change) beside them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import orjson

REPO = Path(__file__).resolve().parents[1]
STOCK = {
    "PartNo": "P1",
    "WarehouseCode": "STO",
    "WarehouseId": 3,
    "LocationCode": "A-12",
    "LocationId": 7,
    "OnhandValue": 5,
    "MinimumValue": 3,
}


RULES = "`deltahook rules check` (shipped rules)"


def commands(work: Path) -> dict[str, list[str]]:
    """The measured commands (the database is made once, before)."""
    (work / "before.json").write_bytes(orjson.dumps(STOCK))
    (work / "after.json").write_bytes(orjson.dumps(STOCK | {"OnhandValue": 0}))
    (work / "empty.ndjson").write_bytes(b"")
    url = ["--database-url", f"sqlite:///{work / 'db.sqlite'}"]
    change = ["--before", str(work / "before.json"), "--after", str(work / "after.json")]
    return {
        "`python -c pass`": ["-c", "pass"],
        "`deltahook --help`": ["-m", "deltahook", "--help"],
        RULES: ["-m", "deltahook", *url, "rules", "check"],
        "`deltahook preview sku_onhand --before --after`": [
            *["-m", "deltahook", *url, "preview", "sku_onhand", *change],
        ],
        "`deltahook ingest` of an empty feed (start-up and job bookkeeping)": [
            *["-m", "deltahook", *url, "ingest", "sku_onhand", str(work / "empty.ndjson")],
        ],
    }


def cpu(args: list[str], src: Path) -> float:
    """CPU seconds (user + sys) of one run of ``python ARGS`` with ``src`` first on the path."""
    env = os.environ | {"PYTHONPATH": str(src)}
    process = subprocess.Popen(
        [sys.executable, *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: python {' '.join(args)}")
    return usage.ru_utime + usage.ru_stime


def measure(repeat: int, sources: dict[str, Path]) -> dict[tuple[str, str], float]:
    """The median CPU seconds of each (source, command), runs interleaved."""
    runs: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="deltahook-startup-") as scratch:
        measured = {}
        for index, (name, src) in enumerate(sources.items()):  # a database per checkout
            (work := Path(scratch) / str(index)).mkdir()
            measured[name] = commands(work)
            cpu([*measured[name][RULES][:4], "db", "upgrade"], src)
        for _ in range(repeat):
            for label in measured[next(iter(sources))]:
                for name, src in sources.items():
                    runs.setdefault((name, label), []).append(cpu(measured[name][label], src))
    return {key: statistics.median(values) for key, values in runs.items()}


def report(medians: dict[tuple[str, str], float], names: list[str], load: str) -> str:
    """A markdown table: each command's CPU and its ratio to ``python -c pass``."""
    lines = [
        f"load average: {load}",
        "",
        "| command | " + " | ".join(f"CPU, {n} (ratio to `python -c pass`)" for n in names) + " |",
        "|---|" + "---|" * len(names),
    ]
    labels = dict.fromkeys(label for _, label in medians)
    for label in labels:
        cells = []
        for name in names:
            bare = medians[(name, "`python -c pass`")]
            figure = medians[(name, label)]
            cells.append(f"{figure:.2f} s ({figure / bare:.1f}x)")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.startup", description=__doc__)
    parser.add_argument("--repeat", type=int, default=5, help="runs of each command")
    parser.add_argument("--against", type=Path, metavar="SRC", help="another src folder")
    args = parser.parse_args(argv)
    sources = {"this checkout": REPO / "src"}
    if args.against:
        sources["--against"] = args.against
    before = os.getloadavg()
    medians = measure(args.repeat, sources)
    after = os.getloadavg()
    load = f"{before[0]:.2f} before, {after[0]:.2f} at the end (1 min)"
    print(report(medians, list(sources), load))


if __name__ == "__main__":
    main()
