"""The results table: one row per figure, with its baseline, the ratio and the aim."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

COLUMNS = ("measure", "figure", "baseline", "ratio", "aim", "met")
HEADER = ("measure", "figure", "baseline", "ratio", "aim", "met?")


@dataclass(frozen=True, slots=True, kw_only=True)
class Row:
    """One line of the table. ``met`` is "yes", "no", or "" when the row has no aim."""

    measure: str
    figure: str
    baseline: str = ""
    ratio: str = ""
    aim: str = ""
    met: str = ""

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Row:
        return cls(**{name: str(data.get(name, "")) for name in COLUMNS})


def verdict(ok: bool) -> str:
    return "yes" if ok else "**no**"


def rate(per_second: float) -> str:
    if per_second >= 1e6:
        return f"{per_second / 1e6:.2f} M/s"
    if per_second >= 1e4:
        return f"{per_second / 1e3:.1f} k/s"
    if per_second >= 1e3:
        return f"{per_second / 1e3:.2f} k/s"
    return f"{per_second:.0f}/s"


def seconds(value: float) -> str:
    return f"{value:.2f} s" if value < 100 else f"{value:.0f} s"


def megabytes(value: float) -> str:
    return f"{value:.0f} MB"


def count(value: int) -> str:
    if value >= 1_000_000 and value % 1_000_000 == 0:
        return f"{value // 1_000_000}M"
    if value >= 1_000 and value % 1_000 == 0:
        return f"{value // 1_000}k"
    return f"{value:,}"


def render(rows: Iterable[Row]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    for row in rows:
        cells = (getattr(row, name).replace("|", "\\|") for name in COLUMNS)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
