"""Readers meet hostile bytes: each is read or rejected by line, and reading goes on."""

from __future__ import annotations

import gzip
import io
import zipfile
from collections.abc import Callable

import pytest

from deltahook.catalog.entities import load_catalog
from deltahook.errors import FeedError
from deltahook.feeds import values
from deltahook.feeds.readers import Line, Record, Reject, read_items
from deltahook.feeds.validate import Problem
from tests.conftest import REPO

CATALOG = load_catalog(REPO / "schemas" / "entities")
ONHAND = CATALOG["sku_onhand"]
HEADER = b"PartNo,WarehouseCode,WarehouseId,LocationCode,LocationId,OnhandValue\n"


def _zipped(data: bytes) -> bytes:
    found = io.BytesIO()
    with zipfile.ZipFile(found, "w") as archive:
        archive.writestr("stock.csv", data)
    return found.getvalue()


def read(data: bytes, fmt: str, *, lazy: bool = False) -> list[Record | Reject]:
    found = read_items(io.BytesIO(data), fmt, ONHAND, lazy=lazy)  # type: ignore[arg-type]
    return [item.parse() if isinstance(item, Line) else item for item in found]


def summary(items: list[Record | Reject]) -> list[tuple[int, str]]:
    return [(i.line, i.reason if isinstance(i, Reject) else "record") for i in items]


@pytest.mark.parametrize("lazy", [False, True])
def test_a_byte_order_mark_does_not_lose_the_first_ndjson_record(lazy: bool) -> None:
    """A UTF-8 byte-order mark before the first line is dropped, as JSON and CSV drop it."""
    got = read(b'\xef\xbb\xbf{"PartNo": "P1"}\n{"PartNo": "P2"}\n', "ndjson", lazy=lazy)
    assert [(i.line, i.data) for i in got if isinstance(i, Record)] == [
        (1, {"PartNo": "P1"}),
        (2, {"PartNo": "P2"}),
    ]


@pytest.mark.parametrize("fmt", ["ndjson", "json", "csv"])
@pytest.mark.parametrize(
    "encoding",
    [
        "utf-16",  # what a Windows "Unicode" export writes: little-endian with its mark
        "utf-16-be",  # big-endian, the mark written by hand below
        "utf-32",
    ],
)
def test_a_feed_in_utf16_or_utf32_is_refused_whole_by_its_byte_order_mark(
    fmt: str, encoding: str
) -> None:
    """Read as UTF-8, each of its lines would be rejected as garbage: one error says why."""
    text = {"ndjson": '{"PartNo": "P1"}\n', "json": '[{"PartNo": "P1"}]', "csv": "PartNo\nP1\n"}
    data = ("\ufeff" if encoding == "utf-16-be" else "") + text[fmt]
    stream = io.BufferedReader(io.BytesIO(data.encode(encoding)))  # type: ignore[arg-type]
    with pytest.raises(FeedError, match="the feed is UTF-16 or UTF-32"):
        read_items(stream, fmt, ONHAND)  # type: ignore[arg-type]
    assert stream.tell() == 0  # nothing consumed


@pytest.mark.parametrize("fmt", ["ndjson", "json", "csv"])
@pytest.mark.parametrize(
    ("archive", "named"),
    [
        (gzip.compress, "gzip-compressed"),  # stock.ndjson.gz given as the feed
        (_zipped, "a ZIP archive (an .xlsx workbook is one)"),  # a workbook saved as .csv
    ],
)
def test_a_compressed_feed_is_refused_whole_by_its_first_bytes(
    fmt: str, archive: Callable[[bytes], bytes], named: str
) -> None:
    """Read as text, each of its lines would be rejected as garbage (a full feed's sweep
    skipped for want of keys): one error says what the file is."""
    stream = io.BufferedReader(io.BytesIO(archive(HEADER + b"P1,W1,1,A,1,5\n")))  # type: ignore[arg-type]
    with pytest.raises(FeedError) as caught:
        read_items(stream, fmt, ONHAND)  # type: ignore[arg-type]
    assert str(caught.value) == f"the feed is {named}; feeds are read as text: unpack it first"
    assert stream.tell() == 0  # nothing consumed


def test_a_json_array_nested_10000_deep_is_rejected_by_its_line() -> None:
    """The deep element is rejected where it starts; the elements before it are read."""
    deep = b"[" * 10_000 + b"]" * 10_000
    got = read(b'[\n{"PartNo": "P1"},\n' + deep + b"\n]", "json")
    assert summary(got) == [
        (2, "record"),
        (3, f"{values.DEEP}; the rest of the array could not be read"),
    ]


@pytest.mark.parametrize("lazy", [False, True])
def test_an_ndjson_line_nested_10000_deep_is_rejected_as_too_deep(lazy: bool) -> None:
    """NDJSON gives the same reason for the same line, and reads on."""
    deep = b'{"a":' * 10_000 + b"1" + b"}" * 10_000
    got = read(deep + b'\n{"PartNo": "P2"}\n', "ndjson", lazy=lazy)
    assert summary(got) == [(1, values.DEEP), (2, "record")]


def test_a_csv_cell_over_the_field_limit_is_rejected_and_the_next_rows_are_read() -> None:
    """A cell over 128 KiB is one rejection naming its line, not an error for the whole feed."""
    rows = b"P1,W1,1,A,1,5\nP2,W1,1," + b"A" * 200_000 + b",1,5\nP3,W1,1,A,1,5\n"
    got = read(HEADER + rows, "csv")
    assert summary(got) == [
        (2, "record"),
        (3, "unreadable CSV row: a cell is longer than 131,072 characters"),
        (4, "record"),
    ]


def test_a_csv_quote_left_open_is_rejected_on_its_line_with_the_lines_it_took() -> None:
    """The open quote makes the next lines one cell: the rejection names the line the row
    starts on (not the last one it took) and says which lines were read as that row."""
    rows = b'P1,W1,1,"A,1,5\nP2,W1,1,A,1,5\nP3,W1,1,A,1,5\n'
    assert summary(read(HEADER + rows, "csv")) == [
        (2, "expected 6 cells, found 4; lines 2-4 were read as one row (a quote not closed?)")
    ]


def test_a_csv_quote_left_open_past_the_field_limit_names_the_lines_lost() -> None:
    """The cell grows past the limit: one rejection from the row's first line to the line the
    limit was met on, and the rows after that are read."""
    rows = b'P1,W1,1,"A,1,5\n' + b"P2,W1,1,A,1,5\n" * 12_000 + b"P3,W1,1,A,1,5\n"
    got = summary(read(HEADER + rows, "csv"))
    (line, reason) = got[0]
    last = int(reason.split("lines 2-")[1].split(" ")[0])
    assert (line, reason) == (
        2,
        "unreadable CSV row: a cell is longer than 131,072 characters; "
        f"lines 2-{last} were read as one row (a quote not closed?)",
    )
    assert got[1:] == [(n, "record") for n in range(last + 1, 12_004)]


def test_a_csv_row_with_a_line_break_in_a_quoted_cell_is_on_the_line_it_starts_on() -> None:
    """As a JSON array element is: the record (or its rejection) names its first line."""
    rows = b'P1,W1,1,"A\nB",1,5\nP2,W1,x,"A\nB",1,5\nP3,W1,1,A,1,5\n'
    assert summary(read(HEADER + rows, "csv")) == [
        (2, "record"),
        (4, "'x' is not a number"),
        (6, "record"),
    ]


@pytest.mark.parametrize(
    ("fmt", "data"),
    [
        ("json", b'[\n{"PartNo": "P\xff"},\n{"PartNo": "P2"}\n]'),
        ("csv", HEADER + b"P\xff,W1,1,A,1,5\nP2,W1,1,A,1,5\n"),
        ("ndjson", b'\n{"PartNo": "P\xff"}\n{"PartNo": "P2"}\n'),
    ],
)
def test_invalid_utf8_is_read_for_the_check_and_reading_goes_on(fmt: str, data: bytes) -> None:
    """The bad bytes reach the value check (which names the field); later records still come."""
    got = read(data, fmt)
    assert [i.line for i in got] == [2, 3]
    first = got[0]
    assert isinstance(first, Record)
    assert values.problem(first.data) == Problem("PartNo", values.NOT_UTF8)


@pytest.mark.parametrize(
    ("line", "checked"),
    [
        (b'{"PartNo": "P1", "OnhandValue": 5}', True),  # orjson read it and nothing is suspect
        (b'{"PartNo": "P1", "OnhandValue": 1e400}', False),  # orjson refuses: read again
        (b'{"PartNo": "P1", "OnhandValue": 123456789012345678901}', False),  # may be rounded
        (b'{"PartNo": "P\\u0000"}', False),  # a NUL escape
    ],
)
def test_ndjson_lines_are_checked_by_the_reader_only_when_nothing_is_suspect(
    line: bytes, checked: bool
) -> None:
    """Clean lines skip the value walk; the others reach it read by the standard library."""
    (record,) = read(line + b"\n", "ndjson")
    assert isinstance(record, Record)
    assert record.checked is checked
    assert (values.problem(record.data) is None) is checked


@pytest.mark.parametrize("lazy", [False, True])
def test_an_ndjson_feed_with_cr_only_line_ends_is_rejected_saying_so(lazy: bool) -> None:
    """Old Mac line ends make the feed one line: its rejection names the cause, not only the
    column where JSON stopped."""
    data = b'{"PartNo": "P1"}\r{"PartNo": "P2"}\r'
    (reject,) = read(data, "ndjson", lazy=lazy)
    assert isinstance(reject, Reject)
    assert reject.line == 1
    assert reject.reason.endswith(
        "; the line holds CR (\\r) line breaks: write lines ending in LF or CRLF"
    )
    crlf = read(data.replace(b"\r", b"\r\n"), "ndjson", lazy=lazy)
    assert [(i.line, type(i).__name__) for i in crlf] == [(1, "Record"), (2, "Record")]
