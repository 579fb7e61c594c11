"""Counting for Prometheus only in a process that exports the counts.

``deltahook.telemetry`` imports prometheus_client, tens of milliseconds of a short command. A
process that exports metrics (``serve``'s ``/metrics``, ``deliver --metrics-port``, or an
embedding that reads ``telemetry.registry``) has imported it before any work is done, so the
places that count look it up rather than import it: a CLI ingest, whose counters nobody could
read, never loads it.
"""

from __future__ import annotations

import sys
from types import ModuleType


def telemetry() -> ModuleType | None:
    """``deltahook.telemetry`` when this process exports metrics, else None."""
    return sys.modules.get("deltahook.telemetry")
