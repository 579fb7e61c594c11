"""The project's own files agree: CI runs the README's command, dependencies say what is used."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "deltahook"
# Imports whose name is not their package's.
IMPORT_TO_DISTRIBUTION = {"yaml": "pyyaml", "prometheus_client": "prometheus-client"}


def _pyproject() -> dict[str, object]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[\[<>=~! ;]", line, maxsplit=1)[0].lower() for line in requirements}


def _runtime() -> set[str]:
    project = _pyproject()["project"]
    assert isinstance(project, dict)
    return _names(project["dependencies"])


def _dev() -> set[str]:
    project = _pyproject()["project"]
    assert isinstance(project, dict)
    return _names(project["optional-dependencies"]["dev"])


def _imported_by_src() -> set[str]:
    found: set[str] = set()
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module.split(".")[0])
    return {name for name in found if name not in sys.stdlib_module_names} - {"deltahook"}


def test_ci_runs_exactly_the_readmes_test_command() -> None:
    """.ci/run's command line is the README's second command, character for character."""
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"```sh\n(python3 -m venv .*)\n```", readme)
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert ci_lines[-1] == commands[1]
    assert "-c constraints.txt" in commands[0]
    assert "-c constraints.txt" in commands[1]


def test_every_package_src_imports_is_a_declared_runtime_dependency() -> None:
    """A third-party module imported under src/ is named in [project] dependencies."""
    declared = _runtime()
    imported = {IMPORT_TO_DISTRIBUTION.get(name, name) for name in _imported_by_src()}
    assert imported - declared == set()


def test_deepdiff_is_a_test_dependency_only() -> None:
    """src/ never imports deepdiff, so only the dev extra installs it."""
    assert "deepdiff" not in _imported_by_src()
    assert "deepdiff" not in _runtime()
    assert "deepdiff" in _dev()


BENCH_ONLY = ("duckdb", "procrastinate")
"""The bench's baselines: DuckDB's anti-join (aim 1), procrastinate's worker (aim 5)."""


def test_the_bench_extra_holds_the_baselines_alone() -> None:
    """The bench extra names duckdb and procrastinate and nothing else."""
    project = _pyproject()["project"]
    assert isinstance(project, dict)
    assert _names(project["optional-dependencies"]["bench"]) == set(BENCH_ONLY)


@pytest.mark.parametrize("name", BENCH_ONLY)
def test_a_bench_baseline_is_a_bench_dependency_only(name: str) -> None:
    """A baseline of the bench is in no other extra (CI installs dev), is pinned, and is never
    imported by src/."""
    assert name not in _dev() | _runtime() | _imported_by_src()
    assert f"{name}==" in (ROOT / "constraints.txt").read_text()


def test_the_constraints_file_pins_every_declared_dependency_exactly() -> None:
    """constraints.txt names one exact version for each runtime and dev dependency."""
    pinned = {
        line.split("==")[0].lower().replace("_", "-")
        for line in (ROOT / "constraints.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    }
    assert (_runtime() | _dev()) - pinned == set()
    assert "deltahook" not in pinned


def test_every_test_says_the_behaviour_it_specifies() -> None:
    """Each test function under tests/ has a docstring (one sentence saying the behaviour)."""
    bare = [
        f"{path.relative_to(ROOT)}::{node.name}"
        for path in (ROOT / "tests").rglob("test_*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.name.startswith("test_")
        and ast.get_docstring(node) is None
    ]
    assert bare == []
