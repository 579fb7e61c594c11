"""Which process runs an ingest job (``host:pid``), and whether that process is gone.

A job records its owner when it starts; whoever looks at a running job later (the next ingest,
``deltahook status``) asks ``process_gone``: on the same host the answer is sure, on another it
is None, and the job's lease decides.
"""

from __future__ import annotations

import os
import socket


def this_process() -> str:
    """The owner name of the running process: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def process_gone(owner: str | None) -> bool | None:
    """True when ``owner``'s process has ended, False while it runs, None when it cannot be
    told (another host, no owner recorded, not a POSIX system)."""
    if not owner or os.name != "posix":
        return None
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return None
    return not _running(int(pid))


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    """A process that ended but was not yet reaped by its parent (Linux's /proc says so)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return False
    return bool(fields) and fields[0] == "Z"
