"""The built wheel carries the shipped schemas, rules and sample feeds: the demo runs from it."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def test_the_demo_runs_from_the_wheel_alone(tmp_path: Path) -> None:
    """Built without build isolation (hatchling is a dev dependency), unpacked away from the
    source tree, imported ahead of the editable install: ``deltahook demo`` finds everything
    it needs inside the package."""
    build = ["wheel", "--no-deps", "--no-build-isolation", "-q", "--wheel-dir", tmp_path / "dist"]
    subprocess.run(
        [sys.executable, "-m", "pip", *map(str, build), str(REPO)],
        check=True,
        capture_output=True,
    )
    [wheel] = (tmp_path / "dist").glob("deltahook-*.whl")
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        archive.extractall(site)
    assert "deltahook/_shipped/schemas/entities/sku.json" in names
    assert "deltahook/_shipped/rules/sku.yaml" in names
    assert "deltahook/_shipped/fixtures/v2/sku.ndjson" in names
    assert "deltahook/console/templates/base.html" in names  # the console's pages and assets
    assert "deltahook/console/static/console.css" in names

    work = tmp_path / "work"
    work.mkdir()
    env = os.environ | {"PYTHONPATH": str(site)}
    env.pop("DELTAHOOK_CONFIG", None)
    where = subprocess.run(
        [sys.executable, "-c", "import deltahook; print(deltahook.__file__)"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(where.stdout.strip()).is_relative_to(site)
    demo = subprocess.run(
        [sys.executable, "-m", "deltahook", "demo"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert demo.returncode == 0, demo.stderr
    assert "SkuOnHandBreakPointNotification" in demo.stdout
