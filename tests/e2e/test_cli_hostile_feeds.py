"""Hostile feeds on the command line: exit 3, one line per rejected record, never a traceback."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from deltahook.cli import main
from deltahook.feeds.readers import FORMATS, Format
from tests.hostile_feeds import Cell, feed, number, raw_text, stock, text

SUFFIX = {"ndjson": "ndjson", "json": "json", "csv": "csv"}

# item, the bad cells, and the line the command prints for the record on line 3
CASES: list[tuple[str, dict[str, Cell], str]] = [
    (
        "1: wide integer",
        {"OnhandValue": number(str(2**80))},
        "line 3: OnhandValue: integer does not fit in 64 bits",
    ),
    (
        "2: invalid UTF-8",
        {"PartNo": raw_text(b"\xfe\xff")},
        "line 3: PartNo: is not valid UTF-8",
    ),
    (
        "4: NaN",
        {"OnhandValue": number("NaN")},
        "line 3: OnhandValue: not a finite number",
    ),
    (
        "4: 1e400",
        {"OnhandValue": number("1e400")},
        "line 3: OnhandValue: not a finite number",
    ),
    (
        "7: NUL",
        {"LocationCode": text("A\x00")},
        "line 3: LocationCode: contains a NUL character (\\u0000)",
    ),
    (
        "markup in a reason",
        {"WarehouseId": text("[/bold][link=x]")},
        "line 3: WarehouseId: '[/bold][link=x]' is not",
    ),
]


def run(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        main, ["--database-url", f"sqlite:///{tmp_path / 'db.sqlite'}", *args]
    )
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(("item", "cells", "line"), CASES, ids=[c[0] for c in CASES])
def test_a_hostile_record_is_one_line_and_exit_3_and_the_rest_go_in(
    tmp_path: Path, fmt: Format, item: str, cells: dict[str, Cell], line: str
) -> None:
    """The bad record is named by line, field and reason; the two good ones are inserted."""
    path = tmp_path / f"stock.{SUFFIX[fmt]}"
    path.write_bytes(feed([stock("G1"), stock("BAD", **cells), stock("G2")], fmt))
    code, out, err = run(tmp_path, "ingest", "sku_onhand", str(path))
    assert (code, "Traceback" in out + err) == (3, False)
    assert "inserted 2" in out
    assert line in err
    assert len([row for row in err.splitlines() if "rejected" in row]) == 1


@pytest.mark.parametrize(
    ("name", "data", "line"),
    [
        # item 3: nesting 10,000 deep in a JSON array
        ("deep.json", b'[\n{"a": 1},\n' + b"[" * 10_000 + b"]" * 10_000 + b"\n]", "line 3:"),
        # item 5: a CSV cell over 128 KiB
        (
            "long.csv",
            b"PartNo,WarehouseCode,WarehouseId,LocationCode,LocationId\n"
            + b"G1,W1,1,A,1\nX,W1,1,"
            + b"A" * 200_000
            + b",1\nG2,W1,1,A,1\n",
            "line 3: unreadable CSV row: a cell is longer than 131,072 characters",
        ),
    ],
)
def test_unreadable_records_are_rejected_by_line(
    tmp_path: Path, name: str, data: bytes, line: str
) -> None:
    """Deep nesting and an over-long CSV cell are rejections, not tracebacks."""
    path = tmp_path / name
    path.write_bytes(data)
    code, out, err = run(tmp_path, "ingest", "sku_onhand", str(path))
    assert (code, "Traceback" in out + err) == (3, False)
    assert line in err


def test_a_byte_order_mark_keeps_the_first_ndjson_record(tmp_path: Path) -> None:
    """Item 6: an NDJSON feed saved with a byte-order mark loses nothing."""
    path = tmp_path / "stock.ndjson"
    path.write_bytes(b"\xef\xbb\xbf" + feed([stock("G1"), stock("G2")], "ndjson").lstrip(b"\n"))
    code, out, _ = run(tmp_path, "ingest", "sku_onhand", str(path))
    assert (code, "inserted 2" in out) == (0, True)


def test_preview_prints_feed_text_as_text_not_markup(tmp_path: Path) -> None:
    """Square brackets from the feed (in a payload, a near miss, a reject) are printed as sent."""
    part = "[/b][link=x]"
    row = {"PartNo": part, "WarehouseCode": "W[/i]", "WarehouseId": 1, "LocationCode": "A"}
    row |= {"LocationId": 1, "OnhandValue": 7, "MinimumValue": 3}
    first = tmp_path / "v1.json"
    first.write_bytes(orjson.dumps([row]))
    assert run(tmp_path, "ingest", "sku_onhand", str(first))[0] == 0
    second = tmp_path / "v2.json"
    second.write_bytes(orjson.dumps([row | {"OnhandValue": 2}, row | {"WarehouseId": "[/u]"}]))
    code, out, err = run(tmp_path, "preview", "sku_onhand", str(second), "--explain")
    assert (code, "Traceback" in out + err) == (3, False)  # a record rejected, as for ingest
    assert part in out
    assert "line 1: WarehouseId: '[/u]' is not of type 'integer'" in err


@pytest.mark.parametrize(
    ("value", "line"),
    [
        (b"123456789012345678901234567890", "line 1: OnhandValue: integer does not fit in 64 bits"),
        # more digits than Python's int() reads: written out again, it was a TypeError traceback
        (b"9" * 5000, "line 1: OnhandValue: integer does not fit in 64 bits"),
        (b"NaN", "line 1: OnhandValue: not a finite number"),
        (b'"\xff"', "line 1: OnhandValue: is not valid UTF-8"),
    ],
)
def test_preview_of_a_pair_rejects_what_a_feed_rejects(
    tmp_path: Path, value: bytes, line: str
) -> None:
    """An --after file is read like a feed: a wide integer is rejected, not rounded (nor, of
    any width, a traceback)."""
    after = tmp_path / "after.json"
    after.write_bytes(
        b'{"PartNo": "P1", "WarehouseCode": "W", "WarehouseId": 1, "LocationCode": "A", '
        b'"LocationId": 1, "OnhandValue": ' + value + b"}"
    )
    code, out, err = run(tmp_path, "preview", "sku_onhand", "--after", str(after))
    assert (code, "Traceback" in out + err) == (3, False)
    assert line in err


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_utf16_feed_is_one_clear_line_and_nothing_is_stored(tmp_path: Path, fmt: Format) -> None:
    """A feed saved as UTF-16 (Excel's "Unicode text") is refused before any record is read."""
    path = tmp_path / f"stock.{SUFFIX[fmt]}"
    path.write_bytes(feed([stock("U1"), stock("U2")], fmt).decode().encode("utf-16"))
    code, out, err = run(tmp_path, "ingest", "sku_onhand", str(path), "--mode", "full")
    assert (code, out) == (1, "")
    assert err == (
        "error: the feed is UTF-16 or UTF-32 (its byte-order mark says so); feeds are read as "
        "UTF-8: save or convert it as UTF-8\n"
    )
    assert "error: no sku_onhand entity" in run(tmp_path, "show", "sku_onhand", "U1|W1|A")[2]


def test_control_characters_of_a_csv_header_are_printed_escaped(tmp_path: Path) -> None:
    """A column named with an escape sequence (or a line break) would recolour, clear or
    rewrite the operator's terminal: it is printed as a ``\\u`` escape, as a NUL is."""
    path = tmp_path / "stock.csv"
    path.write_bytes(b'PartNo,"\x1b[2J\x1b]0;x\x07\rA\xc2\x85"\nP1,1\n')
    code, out, err = run(tmp_path, "ingest", "sku_onhand", str(path))
    assert (code, "Traceback" in out + err) == (3, False)
    assert "rejected line 1: \\u001b[2J\\u001b]0;x\\u0007\\u000dA\\u0085: unknown column" in err
    assert not any(char in err for char in "\x1b\x07\r\x85")
