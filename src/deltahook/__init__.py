"""deltahook: change detection and webhook notifications for commerce entity feeds.

The library's door is ``Engine``: build it with ``Engine.from_settings(load_settings())``, use
it as a context manager, and call ``ingest`` or ``preview`` with an entity kind and a feed.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from deltahook.changes.model import MISSING, EntityChange, FieldChange, Op, RowChange
    from deltahook.config import Settings
    from deltahook.configload import load_settings
    from deltahook.engine import Engine
    from deltahook.errors import DeltahookError
    from deltahook.feeds.readers import Reject
    from deltahook.notifications import Notification
    from deltahook.results import RunResult

# Imported on first use, so `import deltahook.cli` does not pay for the engine (PEP 562).
_HOMES = {
    "MISSING": "deltahook.changes.model",
    "EntityChange": "deltahook.changes.model",
    "FieldChange": "deltahook.changes.model",
    "Op": "deltahook.changes.model",
    "RowChange": "deltahook.changes.model",
    "Settings": "deltahook.config",
    "load_settings": "deltahook.configload",
    "Engine": "deltahook.engine",
    "DeltahookError": "deltahook.errors",
    "Reject": "deltahook.feeds.readers",
    "Notification": "deltahook.notifications",
    "RunResult": "deltahook.results",
}

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


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'deltahook' has no attribute {name!r}")
    value = getattr(import_module(home), name)
    globals()[name] = value
    return value
