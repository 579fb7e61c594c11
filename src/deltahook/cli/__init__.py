"""The command line: a thin door over the engine. Each module adds its commands to ``main``."""

from __future__ import annotations

from deltahook.cli import db as _db  # noqa: F401  (registers commands)
from deltahook.cli import delivery as _delivery  # noqa: F401
from deltahook.cli import delivery_log as _delivery_log  # noqa: F401
from deltahook.cli import demo as _demo  # noqa: F401
from deltahook.cli import entities as _entities  # noqa: F401
from deltahook.cli import feeds as _feeds  # noqa: F401
from deltahook.cli import rules as _rules  # noqa: F401
from deltahook.cli import rulesdiff as _rulesdiff  # noqa: F401
from deltahook.cli import serve as _serve  # noqa: F401
from deltahook.cli.app import main

__all__ = ["main"]
