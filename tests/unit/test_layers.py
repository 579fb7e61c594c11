"""The house's floors: lower modules never import the engine or the doors above them."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "deltahook"
ABOVE = (
    "deltahook.engine",
    "deltahook.ingesting",
    "deltahook.cli",
    "deltahook.api",
    "deltahook.console",
    "deltahook.bootstrap",
)


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _lower_modules() -> list[Path]:
    folders = ("catalog", "changes", "delivery", "feeds", "rules", "store")
    modules = [path for folder in folders for path in (SRC / folder).rglob("*.py")]
    return [*modules, SRC / "config.py", SRC / "configload.py", SRC / "clock.py", SRC / "errors.py"]


@pytest.mark.parametrize("path", _lower_modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_lower_modules_never_import_the_engine_or_the_doors(path: Path) -> None:
    """Nothing under catalog/, changes/, delivery/, feeds/, rules/, store/ (nor config, configload,
    clock, errors) imports the engine, the bootstrap, the CLI or the API."""
    upward = {name for name in _imports(path) if name.startswith(ABOVE)}
    assert upward == set()


WRITES = re.compile(
    r"(insert|update|delete)\((deliveries|attempts)\)|insert_(many|columns)\(\s*\w+,\s*(deliveries|attempts)"
)


def test_only_the_queue_writes_deliveries_and_attempts() -> None:
    """Every insert, update and delete of the deliveries and attempts tables is in queue.py."""
    writers = {
        str(path.relative_to(SRC))
        for path in SRC.rglob("*.py")
        if "migrations" not in path.parts and WRITES.search(path.read_text())
    }
    assert writers == {"delivery/queue.py"}


STATUS_WORDS = re.compile(r"[\"'](pending|retrying|delivered|dead)[\"']")


def test_delivery_status_strings_appear_only_in_the_enum() -> None:
    """The quoted words pending, retrying, delivered and dead are spelled only in status.py."""
    spelled = {
        str(path.relative_to(SRC))
        for path in SRC.rglob("*.py")
        if "migrations" not in path.parts and STATUS_WORDS.search(path.read_text())
    }
    assert spelled == {"delivery/status.py"}
