"""The ``rules`` command group. Its subcommands are in rulescheck.py (``check``, ``test``),
rulesdiff.py (``diff``) and rulestats.py (``stats``).
"""

from __future__ import annotations

from deltahook.cli.app import main


@main.group()
def rules() -> None:
    """Check and test the Event Settings rules (rules/*.yaml)."""
