"""Reading CSV feeds of flat kinds: one record per row, cells typed by the kind's schema."""

from __future__ import annotations

import csv
from collections.abc import Iterator, Mapping
from typing import IO, TYPE_CHECKING, Any

from deltahook.catalog.entities import EntityKind
from deltahook.feeds import values
from deltahook.feeds.items import Item, Record, Reject, unknown_names
from deltahook.feeds.keys import readable_key

if TYPE_CHECKING:
    from _csv import Reader


def read_csv(stream: IO[str], kind: EntityKind) -> Iterator[Item]:
    """Rows of a CSV file with a header; cells are converted by the schema's types.

    An empty cell means the field is absent. A row the csv module cannot read (a cell over its
    field limit) is rejected by line and reading goes on with the next.
    """
    types = kind.property_types()
    rows = _csv_rows(csv.reader(stream))
    header = next(rows, None)
    if header is None:
        return
    if isinstance(header, Reject):
        yield Reject(1, None, f"{header.reason}; the header could not be read")
        return
    names = header[2]
    unknown = [name for name in names if name not in types]
    if unknown:
        yield Reject(1, unknown[0], unknown_names(kind.name, unknown, what="column"))
        return
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:  # which of the two cells holds the value cannot be known
        yield Reject(1, repeated[0], f"column(s) named more than once in the header: {repeated}")
        return
    yield from _csv_records(rows, kind, names, types)


def _csv_rows(reader: Reader) -> Iterator[tuple[int, int, list[str]] | Reject]:
    """Each row with the lines it starts and ends on, or a rejection of the lines it could not
    read."""
    start = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            limit = csv.field_size_limit()
            too_long = "field limit" in str(exc)
            reason = f"a cell is longer than {limit:,} characters" if too_long else str(exc)
            reason += _span(start, reader.line_num)
            yield Reject(start, None, f"unreadable CSV row: {reason}")
        else:
            yield start, reader.line_num, cells
        start = reader.line_num + 1


def _span(start: int, end: int) -> str:
    """Why a row that took several lines may be wrong: a quote left open takes every line up to
    the next quote (or the end of the file) into one cell."""
    if end == start:
        return ""
    return f"; lines {start}-{end} were read as one row (a quote not closed?)"


def _csv_records(
    rows: Iterator[tuple[int, int, list[str]] | Reject],
    kind: EntityKind,
    header: list[str],
    types: Mapping[str, set[str]],
) -> Iterator[Item]:
    for row in rows:
        if isinstance(row, Reject):
            yield row
            continue
        line, end, cells = row
        if not any(cells):
            continue
        if len(cells) != len(header):
            found = f"expected {len(header)} cells, found {len(cells)}{_span(line, end)}"
            yield Reject(line, None, found)
            continue
        try:
            yield Record(line, _typed_row(header, cells, types))
        except _CellError as exc:
            yield Reject(line, exc.field, str(exc), _row_key(kind, header, cells, types))


class _CellError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _typed_row(
    header: list[str], cells: list[str], types: Mapping[str, set[str]]
) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for name, cell in zip(header, cells, strict=True):
        if cell == "":
            continue
        row[name] = _convert(name, cell, types[name])
    return row


def _row_key(
    kind: EntityKind, header: list[str], cells: list[str], types: Mapping[str, set[str]]
) -> str | None:
    """The key of a row rejected for one of its cells, when its key cells are readable."""
    row = dict(zip(header, cells, strict=True))
    try:
        key_values = {
            name: _convert(name, row[name], types[name]) for name in kind.key if row.get(name)
        }
    except _CellError:
        return None
    return readable_key(kind, key_values)


def _number(cell: str) -> int | float | values.WideInteger | None:
    """The number a cell writes as JSON would (spaces around it allowed), else None.

    ``int`` and ``float`` also read ``1_000`` and digits of other scripts; a feed cell like
    that is no more a number than ``1,000`` is.
    """
    if "_" in cell or not cell.isascii():
        return None
    try:
        return values.parse_int(cell)
    except ValueError:
        pass
    try:
        return float(cell)
    except ValueError:
        return None


_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}


def _convert(name: str, cell: str, types: set[str]) -> Any:
    if cell == "null" and "null" in types:
        return None
    if "integer" in types or "number" in types:
        number = _number(cell)
        if number is not None:
            return number  # the schema and feeds.values judge it, as for JSON
        if "string" not in types:
            raise _CellError(name, f"{cell!r} is not a number")
    if "boolean" in types:
        lowered = cell.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        if "string" not in types:
            raise _CellError(name, f"{cell!r} is not a boolean (true or false)")
    return cell
