"""deltahook: change detection and webhook notifications for commerce entity feeds."""

from __future__ import annotations

__version__ = "0.1.0"
