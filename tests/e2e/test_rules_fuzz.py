"""Fuzzing `rules check`: hundreds of mutated rule files, each a located problem or a clean load.

The mutants (``tests/rules_fuzz_support.py``) change with every run; a failure names its seed,
and ``DELTAHOOK_FUZZ_SEED=<seed>`` replays it. The check runs as the real command in a
subprocess whose address space is capped, so a file that would blow memory fails the run
instead of the machine, and a timeout far above the normal time catches a hang (it is not a
speed test).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.rules_fuzz_support import LAUGHS, fuzz_seed, mutants
from tests.unit.test_rules_hostile import sku_filter

MUTANTS = 300
MEMORY_LIMIT = 512 << 20  # address space of the checking process; a normal check needs ~300 MiB
HANG_TIMEOUT_S = 600  # only a hang gets near this: the whole run takes seconds


HOSTILE = {  # the hostile rule files of issue 13, item 8 and 9
    "laughs.yaml": sku_filter(
        "{new.Name: {in: *l9}}", prefix=LAUGHS.replace("l1:", "x: 0\nl1:", 1)
    ),
    "repeat.yaml": sku_filter("{new.Name: {matches: 'a{4294967296}'}}"),
    "groups.yaml": sku_filter("{new.Name: {matches: '" + "(" * 5000 + ")" * 5000 + "'}}"),
    "recursive.yaml": sku_filter("&f {not: *f}"),
    "deep.yaml": sku_filter("[" * 10_000 + "]" * 10_000),
    "python.yaml": sku_filter("{new.Name: !!python/object/apply:os.system [ls]}"),
    "digits.yaml": sku_filter("{new.Name: {eq: " + "9" * 5000 + "}}"),
    "control.yaml": sku_filter("{new.Name: x\x01}"),
}


LIMITED = (
    "import resource, runpy, sys\n"
    f"resource.setrlimit(resource.RLIMIT_AS, ({MEMORY_LIMIT}, {MEMORY_LIMIT}))\n"
    "sys.argv = ['deltahook', *sys.argv[1:]]\n"
    "runpy.run_module('deltahook', run_name='__main__')\n"
)


def rules_check(folder: Path) -> subprocess.CompletedProcess[str]:
    """`deltahook rules check FOLDER` in a child process with capped memory."""
    env = {**os.environ, "COLUMNS": "500", "PYTHONIOENCODING": "utf-8"}
    env.pop("DELTAHOOK_CONFIG", None)
    return subprocess.run(
        [sys.executable, "-c", LIMITED, "rules", "check", str(folder)],
        capture_output=True,
        text=True,
        errors="replace",
        timeout=HANG_TIMEOUT_S,
        cwd=folder,
        env=env,
        check=False,
    )


def located_problems(done: subprocess.CompletedProcess[str], folder: Path, what: str) -> set[str]:
    """The files named by `rules check`'s output, after checking that each line is located."""
    output = f"{what}\n{done.stderr[-3000:]}"
    assert "Traceback" not in done.stderr + done.stdout, output
    assert done.returncode == 1, output
    lines = done.stderr.splitlines()
    assert re.fullmatch(r"\d+ problem\(s\) in .*", lines[-1]), output
    located = re.compile(rf"{re.escape(str(folder))}/[\w.-]+\.yaml:[1-9]\d*:[1-9]\d*: \S.*")
    unlocated = [line for line in lines[:-1] if not located.fullmatch(line)]
    assert unlocated == [], f"{what}\n" + "\n".join(unlocated[:20])
    return {line.split(":", 1)[0].rsplit("/", 1)[1] for line in lines[:-1]}


@pytest.mark.slow
def test_hundreds_of_mutated_rule_files_give_located_problems_within_bounds(
    tmp_path: Path,
) -> None:
    """Every problem of every mutant is `file:line:col: reason` on one line; no traceback."""
    seed = fuzz_seed()
    folder = tmp_path / "rules"
    folder.mkdir()
    shipped = [p.read_text() for p in sorted((REPO / "rules").glob("*.yaml"))]
    for number, data in enumerate(mutants(shipped, seed, MUTANTS)):
        (folder / f"fuzz-{number:03}.yaml").write_bytes(data)
    for name, text in HOSTILE.items():
        (folder / name).write_text(text)
    replay = f"seed {seed} (DELTAHOOK_FUZZ_SEED={seed} replays it); files kept in {folder}"
    named = located_problems(rules_check(folder), folder, replay)
    assert set(HOSTILE) <= named


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_each_hostile_rule_file_alone_is_refused_within_bounds(tmp_path: Path, name: str) -> None:
    """The named hostile inputs of the issue, one per run: exit 1, located, no traceback."""
    (tmp_path / name).write_text(HOSTILE[name])
    assert located_problems(rules_check(tmp_path), tmp_path, name) == {name}
