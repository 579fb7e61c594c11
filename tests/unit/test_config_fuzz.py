"""Fuzzing deltahook.yaml: every mutant loads, or fails with located one-line problems."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from deltahook.configload import load_settings
from deltahook.errors import ConfigError
from tests.conftest import REPO
from tests.rules_fuzz_support import fuzz_seed, mutants

MUTANTS = 200


def readme_config() -> str:
    """The config file the README shows (its Delivery section), the mutator's starting point."""
    readme = (REPO / "README.md").read_text()
    found = re.search(r"```yaml\n(allow_private_urls:.*?)```", readme, flags=re.DOTALL)
    assert found is not None
    return found.group(1)


def problems_of(path: Path) -> tuple[str, ...]:
    """The problems a config file is refused for (none when it loads)."""
    try:
        load_settings(path, env={})
    except ConfigError as exc:
        return exc.problems or (f"(no problems listed) {exc}",)
    return ()


@pytest.mark.slow
def test_mutated_config_files_load_or_give_located_problems(tmp_path: Path) -> None:
    """No traceback: a ConfigError whose every problem is `file:line:col: reason` on one line."""
    seed = fuzz_seed()
    path = tmp_path / "deltahook.yaml"
    located = re.compile(rf"{re.escape(str(path))}:[1-9]\d*:[1-9]\d*: \S[^\n]*")
    for number, data in enumerate(mutants([readme_config()], seed, MUTANTS)):
        path.write_bytes(data)
        replay = f"mutant {number} of seed {seed} (DELTAHOOK_FUZZ_SEED={seed}):\n{data!r}"
        unlocated = [p for p in problems_of(path) if not located.fullmatch(p)]
        assert unlocated == [], replay
