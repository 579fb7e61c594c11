"""NDJSON read in blocks gives the very lines, numbers and contents of reading line by line."""

from __future__ import annotations

import io

from hypothesis import given
from hypothesis import strategies as st

from deltahook.feeds.items import TOO_LONG_LINE, Line, Reject
from deltahook.feeds.readers import LineStream
from deltahook.feeds.values import TOO_LONG

BOM = b"\xef\xbb\xbf"
# Pieces that make lines, blank lines, line breaks of both kinds, stray \r and byte-order marks.
PIECES = st.sampled_from([b"{}", b'{"a": 1}', b"x" * 40, b"\n", b"\r\n", b"\r", b" ", b"\t", BOM])


def by_line(data: bytes) -> list[Line]:
    """The reference: the stream iterated line by line, as the reader did before blocks."""
    found = []
    for number, read in enumerate(io.BytesIO(data), 1):
        raw = read[len(BOM) :] if number == 1 and read.startswith(BOM) else read
        if raw and not raw.isspace():
            found.append(Line(number, raw))
    return found


@given(st.lists(PIECES, max_size=40).map(b"".join), st.integers(1, 64), st.integers(1, 7))
def test_blocks_and_batches_read_what_lines_read(data: bytes, block: int, size: int) -> None:
    """Whatever the block and batch sizes: the same lines, with their line breaks, numbers and
    the contents a line hash is made of; every batch but the last is full."""
    expected = by_line(data)
    assert list(LineStream(io.BytesIO(data), block=block)) == expected
    batches = list(LineStream(io.BytesIO(data), block=block).batches(size))
    assert [batch.line(i) for batch in batches for i in range(len(batch))] == expected
    assert [c for batch in batches for c in batch.contents()] == [x.content() for x in expected]
    assert all(len(batch) == size for batch in batches[:-1])
    assert all(len(batch) for batch in batches)


def test_a_line_longer_than_a_block_is_one_line() -> None:
    """A line spread over many blocks is joined whole, and the next one keeps its number."""
    data = b"x" * 100 + b"\n\n" + b"y" * 10
    lines = list(LineStream(io.BytesIO(data), block=7))
    assert lines == [Line(1, b"x" * 100 + b"\n"), Line(3, b"y" * 10)]


def long_lines_stand_in(lines: list[Line], data: bytes, most: int) -> list[Line]:
    """The reference for a limit: a line of more than ``most`` bytes before its ``\\n`` (a
    byte-order mark counted) is read as ``TOO_LONG_LINE``, blank or not."""
    found = []
    for number, read in enumerate(io.BytesIO(data), 1):
        if len(read.removesuffix(b"\n")) > most:
            found.append(Line(number, TOO_LONG_LINE + b"\n" * read.endswith(b"\n")))
    kept = {line.line: line for line in lines} | {line.line: line for line in found}
    return [kept[number] for number in sorted(kept)]


@given(st.lists(PIECES, max_size=40).map(b"".join), st.integers(1, 24), st.integers(24, 60))
def test_a_line_over_the_limit_stands_as_too_long_and_the_rest_read_as_ever(
    data: bytes, block: int, most: int
) -> None:
    """Whatever the blocks: every line over the limit is one TOO_LONG_LINE, never held whole,
    and every other line, its number and its line break are those of reading line by line."""
    expected = long_lines_stand_in(by_line(data), data, most)
    stream = LineStream(io.BytesIO(data), block=block, max_line=most)
    assert list(stream) == expected


def test_a_line_over_the_limit_is_rejected_by_line_and_the_next_lines_are_read() -> None:
    """A 100-byte line with a limit of 32: rejected with its line and why; nothing else lost."""
    data = b'{"a": 1}\n{"b": "' + b"x" * 100 + b'"}\n{"c": 3}\n' + b"y" * 50
    stream = LineStream(io.BytesIO(data), block=8, max_line=32)
    parsed = [line.parse() for line in stream]
    assert [(item.line, type(item).__name__) for item in parsed] == [
        (1, "Record"),
        (2, "Reject"),
        (3, "Record"),
        (4, "Reject"),
    ]
    assert parsed[1] == Reject(2, None, f"the line is {TOO_LONG}")


# Lines of every kind a batch parses: records, non-objects, malformed JSON, values orjson reads
# but the store cannot keep (a NUL escape, an integer of 19+ digits, deep nesting), stray \r.
LINES = st.sampled_from(
    [
        b'{"a": 1, "b": [1.5, "x"]}',
        b"{}",
        b"[1, 2]",
        b'"text"',
        b"{",
        b'{"a": "\\u0000"}',
        b'{"a": 12345678901234567890}',
        b'{"a": -1234567890123456789}',
        b'{"a": ' + b"[" * 70 + b"]" * 70 + b"}",
        b'{"a": 1}\r',
        b'{"a": "\\ud800"}',
        b'{"a": 1, "a": 2}',
        b'{"a": {"b": 1, "b": 1}}',
        b'{"a" : 1, "b": 2}',
        b'{"a": "\\u0022:", "b": 2}',
    ]
)


@given(st.lists(LINES, min_size=1, max_size=12), st.booleans())
def test_a_batch_parses_each_line_as_the_line_parses_itself(lines: list[bytes], end: bool) -> None:
    """``LineBatch.parse`` (no copy of a clean line) reads what ``Line.parse`` reads, rejects
    and their reasons included, with or without a line break after the last line."""
    data = b"\n".join(lines) + b"\n" * end
    for batch in LineStream(io.BytesIO(data)).batches(5):
        for i in range(len(batch)):
            assert batch.parse(i) == batch.line(i).parse()
