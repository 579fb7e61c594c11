"""Hostile stock records written the same way in NDJSON, a JSON array and CSV.

A record is a mapping from field to ``Cell``: the bytes a JSON feed holds for the value and the
bytes a CSV cell holds for it. Every feed puts record ``n`` (from 0) on line ``n + 2``: NDJSON
starts with a blank line, the JSON array with ``[`` and CSV with its header, so the three
readers can be compared line for line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import orjson

from deltahook.feeds.readers import Format

FIELDS = ("PartNo", "WarehouseCode", "WarehouseId", "LocationCode", "LocationId", "OnhandValue")


@dataclass(frozen=True, slots=True)
class Cell:
    """One value as a JSON literal and as a CSV cell."""

    json: bytes
    csv: bytes


def text(value: str) -> Cell:
    return Cell(orjson.dumps(value), value.encode())


def number(literal: str) -> Cell:
    return Cell(literal.encode(), literal.encode())


def raw_text(inner: bytes) -> Cell:
    """A text value whose bytes are written as they are (invalid UTF-8, say)."""
    return Cell(b'"' + inner + b'"', inner)


Row = Mapping[str, Cell]


def stock(part: str, **cells: Cell) -> dict[str, Cell]:
    """A valid stock row of SKU ``part``, with ``cells`` put in its place."""
    row = {
        "PartNo": text(part),
        "WarehouseCode": text("W1"),
        "WarehouseId": number("1"),
        "LocationCode": text("A"),
        "LocationId": number("1"),
        "OnhandValue": number("5"),
    }
    return row | cells


def feed(rows: Sequence[Row], fmt: Format) -> bytes:
    """The rows as a feed in ``fmt``, row ``n`` on line ``n + 2``."""
    if fmt == "csv":
        lines = [b",".join(_csv_cell(row[name].csv) for name in FIELDS) for row in rows]
        return b",".join(name.encode() for name in FIELDS) + b"\n" + b"\n".join(lines) + b"\n"
    objects = [
        b"{" + b",".join(orjson.dumps(name) + b":" + cell.json for name, cell in row.items()) + b"}"
        for row in rows
    ]
    if fmt == "ndjson":
        return b"\n" + b"\n".join(objects) + b"\n"
    return b"[\n" + b",\n".join(objects) + b"\n]\n"


def _csv_cell(value: bytes) -> bytes:
    if any(char in value for char in (b",", b'"', b"\n", b"\r")):
        return b'"' + value.replace(b'"', b'""') + b'"'
    return value
