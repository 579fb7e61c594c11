"""``/metrics``: this process's counters and the store's queue gauges (``deltahook.telemetry``)."""

from __future__ import annotations

from deltahook.telemetry import CONTENT_TYPE, render

__all__ = ["CONTENT_TYPE", "render"]
