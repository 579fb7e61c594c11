"""The change log's cost: the 1%-changed SKU ingest with the change log on and off.

``python -m bench.changelog [--n 100000] [--repeat 5] [--work DIR]``. Loads ``v1`` once as a
baseline, then ingests the 1%-changed feed into fresh copies of that store, the two settings
interleaved (on, off, off, on, ...) so a busy machine weighs on both alike. Reports the median
CPU time (this process: SQLite runs in it) and wall time of each, and the load average.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from bench import data
from deltahook.config import Settings
from deltahook.engine import Engine


def _ingest(template: Path, feed: Path, *, change_log: bool, work: Path) -> tuple[float, float]:
    db = work / "run.db"
    shutil.copyfile(template, db)
    settings = Settings(database_url=f"sqlite:///{db}", change_log=change_log)
    with Engine.from_settings(settings) as engine:
        cpu, wall = time.process_time(), time.perf_counter()
        engine.ingest("sku", feed, mode="full")
        return time.process_time() - cpu, time.perf_counter() - wall


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.changelog")
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--work", type=Path)
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="deltahook-changelog-"))
    feeds = data.write_feeds(work, n=args.n, fractions=[0.01], kinds=["sku"])
    template = work / "v1.db"
    if not template.exists():
        with Engine.from_settings(Settings(database_url=f"sqlite:///{template}")) as engine:
            engine.ingest("sku", feeds.path("sku"), baseline=True)
    times: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
    loads = [os.getloadavg()[0]]
    for i in range(args.repeat):
        for on in (True, False) if i % 2 == 0 else (False, True):
            times[on].append(_ingest(template, feeds.path("sku", 0.01), change_log=on, work=work))
            loads.append(os.getloadavg()[0])
    for on, runs in times.items():
        cpu = statistics.median(c for c, _ in runs)
        wall = statistics.median(w for _, w in runs)
        print(
            f"change log {'on ' if on else 'off'}: CPU {cpu:.3f} s, wall {wall:.3f} s "
            f"(median of {len(runs)})"
        )
    on_cpu = statistics.median(c for c, _ in times[True])
    off_cpu = statistics.median(c for c, _ in times[False])
    print(f"CPU on/off: {on_cpu / off_cpu:.3f}x; load average {min(loads):.1f}-{max(loads):.1f}")


if __name__ == "__main__":
    main()
