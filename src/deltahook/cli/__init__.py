"""The command line: a thin door over the engine. Each module adds its commands to ``main``.

The modules are imported when one of their commands runs (see ``deltahook.cli.lazy``).
``run`` is the process's entry point (the ``deltahook`` script, ``python -m deltahook``).
"""

from __future__ import annotations

from deltahook.cli.app import main, run

__all__ = ["main", "run"]
