"""Running probes in fresh subprocesses, repeated and reduced to medians."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import xxhash

REPO = Path(__file__).resolve().parents[1]
# A run shorter than this is repeated and its median reported; longer runs are trusted once.
SHORT_RUN_S = 5.0


class ProbeError(RuntimeError):
    """A probe subprocess failed; carries its standard error."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Measurement:
    """The median of one or more runs of a probe (peak RSS: the largest seen)."""

    seconds: float
    entities: int
    rss_peak_mb: float
    rss_start_mb: float
    gc_seconds: float
    runs: int
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        """Entities per second."""
        return self.entities / self.seconds if self.seconds else float("inf")

    @property
    def per_entity_us(self) -> float:
        return self.seconds / self.entities * 1e6 if self.entities else 0.0


def probe(spec: dict[str, Any], *, timeout: float | None = None) -> dict[str, Any]:
    """Run one probe in a fresh interpreter and return what it printed.

    The probe runs in a session of its own so that, past ``timeout``, it and whatever it
    started (a receiver, a dispatcher) are stopped together.
    """
    command = [sys.executable, "-m", "bench.probe", orjson.dumps(spec).decode()]
    with subprocess.Popen(
        command,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as child:
        try:
            out, err = child.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.communicate()
            raise ProbeError(f"probe {spec['probe']} took over {timeout:.0f} s") from None
    if child.returncode != 0:
        raise ProbeError(f"probe {spec['probe']} failed:\n{err[-3000:]}")
    result: dict[str, Any] = orjson.loads(out.strip().splitlines()[-1])
    return result


def measure(
    spec: dict[str, Any],
    *,
    repeat: int,
    template_db: Path | None = None,
    every_run: bool = False,
) -> Measurement:
    """Run a probe (on a fresh copy of ``template_db`` each time, when given) and reduce.

    Runs shorter than ``SHORT_RUN_S`` are repeated ``repeat`` times in all; longer ones too with
    ``every_run`` (a row whose verdict rests on one long run).
    """
    outcomes: list[dict[str, Any]] = []
    while True:
        if template_db is not None:
            copy_db(template_db, Path(spec["db"]))
        outcomes.append(probe(spec))
        long_run = outcomes[0]["seconds"] >= SHORT_RUN_S and not every_run
        if len(outcomes) >= repeat or long_run:
            break
    return reduce(outcomes)


def interleaved(specs: list[dict[str, Any]], *, runs: int, template_db: Path) -> list[Measurement]:
    """Run variants of a probe in turn (A B C A B C ...), each on a fresh database copy.

    Drift in the machine's load then falls on every variant alike, which matters when the
    figure is the difference between them. Each variant is reduced to its median.
    """
    outcomes: list[list[dict[str, Any]]] = [[] for _ in specs]
    for _ in range(runs):
        for spec, seen in zip(specs, outcomes, strict=True):
            copy_db(template_db, Path(spec["db"]))
            seen.append(probe(spec))
    return [reduce(seen) for seen in outcomes]


def reduce(outcomes: list[dict[str, Any]]) -> Measurement:
    timed_keys = {"seconds", "entities", "rss_peak_mb", "rss_start_mb", "gc_seconds"}
    median = statistics.median
    return Measurement(
        seconds=median(o["seconds"] for o in outcomes),
        entities=outcomes[0]["entities"],
        rss_peak_mb=max(o["rss_peak_mb"] for o in outcomes),
        rss_start_mb=median(o["rss_start_mb"] for o in outcomes),
        gc_seconds=median(o["gc_seconds"] for o in outcomes),
        runs=len(outcomes),
        extra={k: v for k, v in outcomes[-1].items() if k not in timed_keys},
    )


def code_fingerprint() -> str:
    """A hash of deltahook's code, schemas and rules: a kept database is reused only with it."""
    digest = xxhash.xxh3_64()
    for folder in ("src/deltahook", "schemas", "rules"):
        for path in sorted((REPO / folder).rglob("*")):
            if path.is_file() and path.suffix in {".py", ".json", ".yaml"}:
                digest.update(path.relative_to(REPO).as_posix().encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()


def copy_db(source: Path, target: Path) -> None:
    """A fresh copy of a checkpointed SQLite database (no WAL or shared-memory files left), on
    disk before it is used: else the first checkpoint's ``fsync`` inside the measured ingest
    waited for the kernel to write out the whole copy (1.8 GB at 1M SKUs), a cost a store that
    was not just copied never pays."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(source, target)
    with target.open("rb+") as copied:
        os.fsync(copied.fileno())
    settle()


# Write-back the kernel may still have in hand after a copy's fsync, in KiB, below which a
# measurement starts (``settle``), and the longest wait for it.
SETTLED_KIB = 64 * 1024
SETTLE_LIMIT_S = 60.0


def settle(*, limit_s: float = SETTLE_LIMIT_S) -> None:
    """Wait (at most ``limit_s``) until the kernel's dirty and write-back pages are few.

    ``fsync`` returns once the copy's data is on disk, but the file system may go on writing
    (its journal, the old copy's freed blocks): the 1M-SKU 1%-changed ingest took 7.5-8.6 s
    right after its 1.9 GB copy and 4.8-5.1 s a few seconds later (tenth session).
    """
    deadline = time.monotonic() + limit_s
    while _pending_kib() > SETTLED_KIB and time.monotonic() < deadline:
        time.sleep(0.25)


def _pending_kib() -> int:
    """Dirty plus write-back memory (``/proc/meminfo``, KiB); 0 where there is none to read."""
    try:
        lines = Path("/proc/meminfo").read_text().splitlines()
    except OSError:
        return 0
    fields = dict(line.split(":", 1) for line in lines if ":" in line)
    return sum(int(fields.get(name, "0 kB").split()[0]) for name in ("Dirty", "Writeback"))


def checkpoint(db: Path) -> None:
    """Fold the WAL into the database file so that copying the file copies everything."""
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
