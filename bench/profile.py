"""Where an ingest's time goes: py-spy samples of a probe, summarised as two top lists.

py-spy samples from outside the process, so the figures carry no instrumentation overhead
(a tracing profiler inflates code made of many small calls, such as the normaliser). Time in
C code (orjson, SQLite, the compiled validator) is charged to the Python line that called it,
which is why the self-time list is by line. Install it into the venv: ``pip install py-spy``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

from bench.measure import REPO, ProbeError

# Only samples inside the timed call count (set-up and imports are left out).
MARKER = "run (deltahook/ingesting.py"  # below Engine.ingest and Engine.preview (not the CLI's run)
_LINE = re.compile(r"^(?P<name>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def record(spec: dict[str, Any], folded: Path, *, rate: int = 250) -> None:
    """Run the probe under py-spy, writing folded stacks (one ``stack count`` per line)."""
    exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(exe).exists():
        raise ProbeError("profiling needs py-spy: .venv/bin/pip install py-spy")
    command = [exe, "record", "--idle", "--nonblocking", "--format", "raw", "-r", str(rate)]
    command += ["-o", str(folded)]
    command += ["--", sys.executable, "-m", "bench.probe", orjson.dumps(spec).decode()]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ProbeError(f"py-spy failed:\n{done.stderr[-3000:]}")


def summarise(folded: Path, *, top: int = 25) -> str:
    """Inclusive time by function and self time by line, as shares of the timed samples."""
    inclusive: Counter[str] = Counter()
    self_time: Counter[str] = Counter()
    total = 0
    for raw in folded.read_text(encoding="utf-8").splitlines():
        stack, _, count_text = raw.rpartition(" ")
        frames = stack.split(";")
        starts = [i for i, frame in enumerate(frames) if frame.startswith(MARKER)]
        if not starts:
            continue
        count = int(count_text)
        total += count
        frames = frames[starts[0] :]
        for name in {_function(frame) for frame in frames}:
            inclusive[name] += count
        self_time[frames[-1]] += count
    if not total:
        return "no samples inside the timed call\n"
    return (
        f"{total} samples inside ingesting.run\n\n"
        + _table("inclusive time by function", inclusive, total, top)
        + "\n"
        + _table(
            "self time by line (C calls are charged to their caller's line)", self_time, total, top
        )
    )


def _function(frame: str) -> str:
    match = _LINE.match(frame)
    return f"{match['name']} ({match['file']})" if match else frame


def _table(title: str, counter: Counter[str], total: int, top: int) -> str:
    rows = [f"{count / total:6.1%}  {name}" for name, count in counter.most_common(top)]
    return f"{title}\n" + "\n".join(rows) + "\n"
