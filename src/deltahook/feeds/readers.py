"""Reading feeds as streams: NDJSON, a JSON array, or CSV for flat kinds.

Each reader yields ``Record`` (a parsed object and the line it starts on) or ``Reject`` (the line
and why it could not be read); asked for ``lazy`` items, NDJSON comes as ``Line`` (the line's
own bytes, parsed by whoever needs them: a line identical to a stored one never is). Memory
stays flat: nothing but the current record (and, for a JSON array, one read buffer) is held.

What a store cannot keep (NaN, wide integers, NUL, invalid UTF-8, deep nesting) is read, not
refused, so that ``feeds.values`` can name the field whatever the format: invalid UTF-8 is
decoded with ``surrogateescape``, and an NDJSON line orjson refuses is read again by the
standard library before it is given up as malformed.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal

import orjson

from deltahook.catalog.entities import EntityKind
from deltahook.errors import FeedError
from deltahook.feeds import values
from deltahook.feeds.json_stream import JsonStream

if TYPE_CHECKING:
    from _csv import Reader
from deltahook.feeds.keys import readable_key

Format = Literal["ndjson", "json", "csv"]
FORMATS: tuple[Format, ...] = ("ndjson", "json", "csv")
_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True, slots=True)
class Record:
    """A parsed record and the line it starts on.

    ``checked`` is True when the reader has made sure every value can be stored (see
    ``feeds.values``); otherwise admission checks the record before its schema.
    """

    line: int
    data: dict[str, Any]
    checked: bool = False


@dataclass(frozen=True, slots=True)
class Reject:
    """A record that was not applied: its line, the field at fault (if one) and why.

    ``key`` is the entity key when the record still shows it (see ``feeds.keys``).
    """

    line: int
    field: str | None
    reason: str
    key: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"line": self.line, "field": self.field, "reason": self.reason}

    def __str__(self) -> str:
        where = f" {self.field}:" if self.field else ""
        return f"line {self.line}:{where} {self.reason}"


Item = Record | Reject


@dataclass(frozen=True, slots=True)
class Line:
    """One NDJSON line not parsed yet: its number and its bytes as read (line break included)."""

    line: int
    raw: bytes

    def content(self) -> bytes:
        """The line without its line break: what a line hash is made of."""
        return self.raw.rstrip(b"\r\n")

    def parse(self) -> Item:
        try:
            data = orjson.loads(self.raw)
        except orjson.JSONDecodeError as exc:
            reject = Reject(self.line, None, f"malformed JSON at column {exc.colno}: {exc.msg}")
            return self._reread(reject)
        if values.suspect(self.raw):
            return self._reread(_as_record(self.line, data))
        return _as_record(self.line, data, checked=True)

    def _reread(self, otherwise: Item) -> Item:
        """The line read by the standard library, which keeps what orjson refuses or rounds."""
        try:
            data = values.loads(self.raw.decode("utf-8", "surrogateescape"))
        except RecursionError:
            return Reject(self.line, None, values.DEEP)
        except ValueError:
            return otherwise
        return _as_record(self.line, data)


def detect_format(path: Path | None, fmt: str | None) -> Format:
    """The format asked for, or the one the file name implies."""
    if fmt is not None:
        if fmt not in FORMATS:
            raise FeedError(f"unknown feed format {fmt!r} (use one of {', '.join(FORMATS)})")
        return fmt
    suffix = path.suffix.lower() if path is not None else ""
    if suffix in {".ndjson", ".jsonl"}:
        return "ndjson"
    if suffix == ".json":
        return "json"
    if suffix == ".csv":
        return "csv"
    raise FeedError(
        f"cannot tell the format of {path or 'standard input'}: pass --format ndjson, json or csv"
    )


def read_items(
    stream: IO[bytes], fmt: Format, kind: EntityKind, *, lazy: bool = False
) -> Iterator[Item | Line]:
    """Every record of a binary stream in the given format (NDJSON as ``Line`` when ``lazy``)."""
    if fmt == "ndjson":
        return read_lines(stream) if lazy else read_ndjson(stream)
    if fmt == "csv" and not kind.is_flat:
        raise FeedError(f"kind {kind.name!r} has nested collections and cannot be read from CSV")
    return _read_text(stream, fmt, kind)


def _read_text(stream: IO[bytes], fmt: Format, kind: EntityKind) -> Iterator[Item]:
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="surrogateescape", newline="")
    try:
        yield from read_json_array(text) if fmt == "json" else read_csv(text, kind)
    finally:
        text.detach()  # the caller owns the binary stream and closes it


def read_ndjson(stream: IO[bytes]) -> Iterator[Item]:
    for line in read_lines(stream):
        yield line.parse()


def read_lines(stream: IO[bytes]) -> Iterator[Line]:
    """The non-blank lines of an NDJSON stream, unparsed (a byte-order mark dropped)."""
    for number, read in enumerate(stream, 1):
        raw = read[len(_BOM) :] if number == 1 and read.startswith(_BOM) else read
        if raw and not raw.isspace():
            yield Line(number, raw)


def _as_record(line: int, data: Any, *, checked: bool = False) -> Item:
    if isinstance(data, dict):
        return Record(line, data, checked)
    return Reject(line, None, f"a record must be a JSON object, not {type(data).__name__}")


def read_json_array(stream: IO[str]) -> Iterator[Item]:
    """The elements of one JSON array, each with the line it starts on.

    A malformed element ends the read: JSON offers no way to find where the next one starts, so
    the rest of the array is reported as one rejection.
    """
    reader = JsonStream(stream)
    if not reader.expect("["):
        yield Reject(reader.line, None, "a JSON feed must be an array of objects")
        return
    if reader.expect("]"):
        return
    while True:
        reader.skip_space()
        line = reader.line
        try:
            data = reader.value()
        except (ValueError, RecursionError) as exc:
            reason = values.DEEP if isinstance(exc, RecursionError) else str(exc)
            yield Reject(line, None, f"{reason}; the rest of the array could not be read")
            return
        yield _as_record(line, data)
        if reader.expect(","):
            continue
        if not reader.expect("]"):
            yield Reject(reader.line, None, "expected ',' or ']' after an array element")
        return


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
    unknown = [name for name in header[1] if name not in types]
    if unknown:
        yield Reject(1, unknown[0], f"unknown column(s) for kind {kind.name!r}: {unknown}")
        return
    yield from _csv_records(rows, kind, header[1], types)


def _csv_rows(reader: Reader) -> Iterator[tuple[int, list[str]] | Reject]:
    """Each row with the line it ends on, or a rejection naming the line it could not read."""
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            limit = csv.field_size_limit()
            too_long = "field limit" in str(exc)
            reason = f"a cell is longer than {limit:,} characters" if too_long else str(exc)
            yield Reject(reader.line_num, None, f"unreadable CSV row: {reason}")
            continue
        yield reader.line_num, cells


def _csv_records(
    rows: Iterator[tuple[int, list[str]] | Reject],
    kind: EntityKind,
    header: list[str],
    types: Mapping[str, set[str]],
) -> Iterator[Item]:
    for row in rows:
        if isinstance(row, Reject):
            yield row
            continue
        line, cells = row
        if not any(cells):
            continue
        if len(cells) != len(header):
            yield Reject(line, None, f"expected {len(header)} cells, found {len(cells)}")
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
