"""bench/startup.py reads a process's CPU at the moment it first reads its feed, from outside."""

from __future__ import annotations

import os

import pytest
from bench import startup

# Burns at least 0.2 s of CPU, then reads one byte of standard input, then burns as much again.
BURN = "import time, sys\n" + "\n".join(
    [
        "def burn():",
        "    start = time.process_time()",
        "    while time.process_time() - start < 0.2: pass",
        "burn()",
        "assert sys.stdin.buffer.read(1) == b'x'",
        "burn()",
    ]
)


@pytest.mark.skipif(not startup.supported(), reason="reads /proc/PID/syscall (Linux x86-64)")
def test_the_cpu_before_the_first_read_is_what_was_spent_before_it() -> None:
    """The figure at the first read counts the work before it and not the work after it."""
    before, total = startup.first_byte(["-c", BURN], b"x", dict(os.environ))
    assert 0.2 <= before < total
    assert total - before >= 0.2
