"""The whole-process baselines of the bench find exactly what changed in a full feed."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import orjson
import pytest
from bench import antijoin, process, step

OLD = [{"PartNo": f"SKU-{i}", "Name": f"name {i}"} for i in range(5)]
NEW = [
    OLD[0],
    {"PartNo": "SKU-1", "Name": "renamed"},  # changed
    OLD[2],
    OLD[3],  # SKU-4 is gone
    {"PartNo": "SKU-9", "Name": "new"},  # new
]


def _feed(path: Path, records: list[dict[str, str]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    return path


def test_dict_of_line_hashes_finds_the_new_and_changed_lines(tmp_path: Path) -> None:
    """The dict floor writes the keys of lines whose hash the stored state does not hold."""
    old, new = _feed(tmp_path / "old", OLD), _feed(tmp_path / "new", NEW)
    antijoin.main(["dict-state", str(tmp_path / "state"), str(old)])
    antijoin.main(["dict", str(tmp_path / "state"), str(new), str(tmp_path / "out")])
    assert (tmp_path / "out").read_text().split() == ["SKU-1", "SKU-9"]


def test_the_dict_step_times_the_same_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """bench.step's dict finds the same keys and prints the CPU seconds of its work."""
    old, new = _feed(tmp_path / "old", OLD), _feed(tmp_path / "new", NEW)
    antijoin.main(["dict-state", str(tmp_path / "state"), str(old)])
    step.main(["dict", str(tmp_path / "state"), str(new), str(tmp_path / "out")])
    assert (tmp_path / "out").read_text().split() == ["SKU-1", "SKU-9"]
    assert float(capsys.readouterr().out) >= 0


@pytest.mark.skipif(importlib.util.find_spec("duckdb") is None, reason="duckdb not installed")
def test_duckdb_anti_join_finds_the_new_changed_and_gone_keys(tmp_path: Path) -> None:
    """DuckDB's anti-joins write the new and changed keys and, a full feed, the gone ones."""
    old, new = _feed(tmp_path / "old", OLD), _feed(tmp_path / "new", NEW)
    antijoin.main(["duckdb-state", str(tmp_path / "state"), str(old)])
    antijoin.main(["duckdb", str(tmp_path / "state"), str(new), str(tmp_path / "out")])
    assert sorted((tmp_path / "out").read_text().split()) == ["SKU-1", "SKU-4", "SKU-9"]


def test_rows_say_whether_deltahook_meets_each_aim() -> None:
    """Half of DuckDB's CPU meets the DuckDB aim; over twice the dict's misses the floor aim,
    and a detection step within twice the dict's meets it."""
    medians = {
        **{("deltahook", c): 1.0 for c in process.CHANGED},
        **{("duckdb", c): 2.0 for c in process.CHANGED},
        **{("dict", c): 0.4 for c in process.CHANGED},
        **{("deltahook-step", c): 0.5 for c in process.CHANGED},
        **{("dict-step", c): 0.3 for c in process.CHANGED},
    }
    met = [row.met for row in process.rows(medians, 100_000)]
    assert met == ["yes", "**no**", "yes"] * 2


def test_without_duckdb_the_bench_shows_a_note_instead(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When duckdb is not installed, the whole-process rows are one 'not measured' note."""
    monkeypatch.setattr(process, "duckdb_installed", lambda: False)
    feeds = process.data.Feeds(tmp_path, 10, 1)
    found = list(process.suite_rows(feeds, tmp_path / "store.db", runs=1))
    assert [row.met for row in found] == ["-"]
    assert "duckdb is not installed" in found[0].figure
