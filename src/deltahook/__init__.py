"""deltahook: change detection and webhook notifications for commerce entity feeds.

The library's door is ``Engine``: build it with ``Engine.from_settings(load_settings())``, use
it as a context manager, and call ``ingest`` or ``preview`` with an entity kind and a feed.
"""

from __future__ import annotations

from deltahook.changes.model import MISSING, EntityChange, FieldChange, Op, RowChange
from deltahook.config import Settings, load_settings
from deltahook.engine import Engine
from deltahook.errors import DeltahookError
from deltahook.feeds.readers import Reject
from deltahook.notifications import Notification
from deltahook.results import RunResult

__version__ = "0.1.0"

__all__ = [
    "MISSING",
    "DeltahookError",
    "Engine",
    "EntityChange",
    "FieldChange",
    "Notification",
    "Op",
    "Reject",
    "RowChange",
    "RunResult",
    "Settings",
    "__version__",
    "load_settings",
]
