"""The side-by-side bench row of PostgreSQL against SQLite says whether the aim is met."""

from __future__ import annotations

from pathlib import Path

from bench import sidebyside
from bench.data import Feeds
from bench.sidebyside import Figures


def _figures(seconds: float, cpu: float) -> Figures:
    return Figures(seconds=seconds, cpu=cpu, server_cpu=0.0, runs=3, counts={})


def test_within_one_and_a_half_times_sqlite_meets_the_aim() -> None:
    """1.5x SQLite's wall-clock time meets the aim; a little more misses it."""
    met = [
        sidebyside.row(
            {"sqlite": _figures(2.0, 1.0), "postgresql": _figures(seconds, 1.0)},
            100_000,
            (1.0, 2.0),
        ).met
        for seconds in (3.0, 3.1)
    ]
    assert met == ["yes", "**no**"]


def test_without_a_server_the_row_says_not_measured(tmp_path: Path) -> None:
    """When no PostgreSQL server answers, the suite gets one 'not measured' row with the reason."""
    feeds = Feeds(tmp_path, 10, 1)
    rows = list(
        sidebyside.suite_rows(feeds, tmp_path, url="postgresql://nobody@127.0.0.1:9/x", runs=1)
    )
    assert len(rows) == 1
    assert rows[0].figure.startswith("not measured: no PostgreSQL server answers")
    assert rows[0].met == "-"
