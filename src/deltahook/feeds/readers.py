"""Reading feeds as streams: NDJSON, a JSON array, or CSV for flat kinds.

Each reader yields ``Record`` (a parsed object and the line it starts on) or ``Reject`` (the line
and why it could not be read); asked for ``lazy`` items, NDJSON comes as ``Line`` (the line's
own bytes, parsed by whoever needs them: a line identical to a stored one never is), or in
``LineBatch`` es read in large blocks (see ``LineStream``). Memory stays flat: nothing but the
current record or batch (and one read buffer) is held.

What a store cannot keep (NaN, wide integers, NUL, invalid UTF-8, deep nesting) is read, not
refused, so that ``feeds.values`` can name the field whatever the format: invalid UTF-8 is
decoded with ``surrogateescape``, and an NDJSON line orjson refuses is read again by the
standard library before it is given up as malformed.
"""

from __future__ import annotations

import io
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import IO, Literal

from deltahook.catalog.entities import EntityKind
from deltahook.errors import FeedError
from deltahook.feeds import values
from deltahook.feeds.csv_rows import read_csv
from deltahook.feeds.items import TOO_LONG_LINE, Item, Line, LineBatch, Record, Reject, as_record
from deltahook.feeds.json_stream import JsonStream

__all__ = [
    "FORMATS",
    "Format",
    "Item",
    "Line",
    "LineBatch",
    "LineStream",
    "Record",
    "Reject",
    "detect_format",
    "read_csv",
    "read_items",
    "read_json_array",
    "read_lines",
    "read_ndjson",
]

Format = Literal["ndjson", "json", "csv"]
FORMATS: tuple[Format, ...] = ("ndjson", "json", "csv")
_BOM = b"\xef\xbb\xbf"
# Byte-order marks of UTF-16 and UTF-32 (UTF-32's little-endian one starts as UTF-16's does).
_WIDE_BOMS = (b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")
# The first bytes of compressed files: control characters or bytes that UTF-8 text never
# starts with, so no text feed starts so (bzip2's "BZh" could be a CSV column's name).
_ARCHIVES = {
    b"\x1f\x8b": "gzip-compressed",
    b"PK\x03\x04": "a ZIP archive (an .xlsx workbook is one)",
    b"\xfd7zX": "xz-compressed",
    b"\x28\xb5\x2f\xfd": "zstd-compressed",
}
BLOCK = 1 << 18  # bytes read at once: the split into lines is one C call per block
_ONE_BY_ONE = 256  # lines per batch behind ``LineStream.__iter__``


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
) -> Iterator[Item] | LineStream:
    """Every record of a binary stream in the given format (NDJSON as ``Line`` when ``lazy``)."""
    _refuse_unreadable(stream)
    if fmt == "ndjson":
        return read_lines(stream) if lazy else read_ndjson(stream)
    if fmt == "csv" and not kind.is_flat:
        raise FeedError(f"kind {kind.name!r} has nested collections and cannot be read from CSV")
    return _read_text(stream, fmt, kind)


def _refuse_unreadable(stream: IO[bytes]) -> None:
    """Refuse, by its first bytes, a feed that is no UTF-8 text: one whose byte-order mark says
    UTF-16 or UTF-32 (a Windows "Unicode" export), or a compressed one (``stock.ndjson.gz``, a
    workbook saved under a .csv name). Read as UTF-8 text, every line of it would be rejected as
    garbage. Only a stream that can peek (files, standard input, API bodies) is checked;
    nothing is consumed."""
    peek = getattr(stream, "peek", None)
    start = peek(4)[:4] if peek is not None else b""
    if start.startswith(_WIDE_BOMS):
        raise FeedError(
            "the feed is UTF-16 or UTF-32 (its byte-order mark says so); feeds are read as "
            "UTF-8: save or convert it as UTF-8"
        )
    for magic, named in _ARCHIVES.items():
        if start.startswith(magic):
            raise FeedError(f"the feed is {named}; feeds are read as text: unpack it first")


def _read_text(stream: IO[bytes], fmt: Format, kind: EntityKind) -> Iterator[Item]:
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="surrogateescape", newline="")
    try:
        yield from read_json_array(text) if fmt == "json" else read_csv(text, kind)
    finally:
        text.detach()  # the caller owns the binary stream and closes it


def read_ndjson(stream: IO[bytes]) -> Iterator[Item]:
    for line in read_lines(stream):
        yield line.parse()


def read_lines(stream: IO[bytes]) -> LineStream:
    """The non-blank lines of an NDJSON stream, unparsed (a byte-order mark dropped)."""
    return LineStream(stream)


class LineStream:
    """The non-blank lines of an NDJSON stream: one by one as ``Line``, or ``batches`` of them.

    The stream is read in blocks of up to ``BLOCK`` bytes and each split at ``\n`` in C (see
    ``_split``), so a line costs one ``bytes`` and no other Python object until asked for.
    Line numbers and contents are those of reading the stream line by line.
    """

    def __init__(
        self, stream: IO[bytes], *, block: int = BLOCK, max_line: int = values.MAX_RECORD
    ) -> None:
        self._stream = stream
        self._block = block
        self._max_line = max(max_line, block)  # a line within one block is never too long
        self._crlf = False  # once a block holds a \r, lines may end in one: strip them
        self._open_end = False  # the last line has no line break (known once it is read)

    def __iter__(self) -> Iterator[Line]:
        for batch in self.batches(_ONE_BY_ONE):
            yield from batch.lines()

    def batches(self, size: int) -> Iterator[LineBatch]:
        """Batches of ``size`` lines (the last one shorter)."""
        numbers: list[int] = []
        raws: list[bytes] = []
        count = 0  # lines read so far, blank ones included
        for pieces in self._pieces():
            if count == 0 and pieces[0].startswith(_BOM):
                pieces[0] = pieces[0][len(_BOM) :]
            _keep_filled(pieces, count, numbers, raws)
            count += len(pieces)
            while len(raws) >= size:
                open_end = self._open_end and len(raws) == size
                yield LineBatch(numbers[:size], raws[:size], crlf=self._crlf, open_end=open_end)
                del numbers[:size], raws[:size]
        if raws:
            yield LineBatch(numbers, raws, crlf=self._crlf, open_end=self._open_end)

    def _pieces(self) -> Iterator[list[bytes]]:
        """The stream's lines as read, ``\n`` included, a block's worth at a time.

        A line over ``max_line`` bytes (its ``\n`` aside) is not kept: it is read past and stands
        as ``TOO_LONG_LINE``, which parses to its rejection.
        """
        limit = self._max_line
        parts: list[bytes] = []  # the start of a line that goes on in the next block
        held = 0  # bytes in ``parts``; -1 while reading past a line that is too long
        # What the stream has now, up to a block: a streamed upload's first lines are applied
        # while its client still sends the rest (``read`` would wait for a whole block).
        read = getattr(self._stream, "read1", self._stream.read)
        while block := read(self._block):
            self._crlf = self._crlf or b"\r" in block
            pieces = _split(block)
            if len(pieces) == 1:
                held = _hold(parts, held, block, limit)
                continue
            if held < 0 or held + len(pieces[0]) - 1 > limit:
                pieces[0] = TOO_LONG_LINE + b"\n"
            elif parts:
                pieces[0] = b"".join((*parts, pieces[0]))
            parts = []
            held = _hold(parts, 0, pieces.pop(), limit)
            yield pieces
        last = TOO_LONG_LINE if held < 0 else b"".join(parts)
        if last:
            self._open_end = not last.isspace()
            yield [last]


def _split(block: bytes) -> list[bytes]:
    """The lines of ``block``, each with its ``\\n``, and last the start of the next line (the
    bytes after the last ``\\n``, maybe none). ``BytesIO.readlines`` finds each ``\\n`` with
    ``memchr``, twice as fast as ``bytes.split`` for lines of a kilobyte, and the lines are kept
    as it makes them: taking the ``\\n`` off each would copy every line once more."""
    lines = io.BytesIO(block).readlines()
    lines.append(lines.pop() if not lines[-1].endswith(b"\n") else b"")
    return lines


def _hold(parts: list[bytes], held: int, piece: bytes, limit: int) -> int:
    """Keep ``piece``, the start of a line, unless the line is too long (then -1: drop it)."""
    if held < 0 or held + len(piece) > limit:
        parts.clear()
        return -1
    parts.append(piece)
    return held + len(piece)


def _keep_filled(pieces: list[bytes], count: int, numbers: list[int], raws: list[bytes]) -> None:
    """Append the non-blank ``pieces`` and their line numbers (line ``count + 1`` first)."""
    if all(pieces) and not any(map(bytes.isspace, pieces)):  # no blank line: all C calls
        numbers.extend(range(count + 1, count + 1 + len(pieces)))
        raws.extend(pieces)
        return
    for number, piece in enumerate(pieces, count + 1):
        if piece and not piece.isspace():
            numbers.append(number)
            raws.append(piece)


def read_json_array(stream: IO[str]) -> Iterator[Item]:
    """The elements of one JSON array, each with the line it starts on.

    A malformed element ends the read: JSON offers no way to find where the next one starts, so
    the rest of the array is reported as one rejection.
    """
    reader = JsonStream(stream)
    if not reader.expect("["):
        yield Reject(reader.line, None, "a JSON feed must be an array of objects")
        return
    closed = reader.expect("]") or (yield from _read_elements(reader))
    if closed and not reader.at_end():
        # a second array appended to the first, say: its records would be lost without a word
        yield Reject(reader.line, None, "text after the end of the array: a JSON feed is one array")


def _read_elements(reader: JsonStream) -> Generator[Item, None, bool]:
    """The elements of an array whose '[' was read; whether its ']' was read after them."""
    while True:
        reader.skip_space()
        line = reader.line
        try:
            data = reader.value()
        except (ValueError, RecursionError) as exc:
            reason = values.DEEP if isinstance(exc, RecursionError) else str(exc)
            yield Reject(line, None, f"{reason}; the rest of the array could not be read")
            return False
        if reader.repeated is not None:
            yield Reject(line, reader.repeated, values.REPEATED)
        else:
            yield as_record(line, data)
        if reader.expect(","):
            continue
        if reader.expect("]"):
            return True
        yield Reject(reader.line, None, "expected ',' or ']' after an array element")
        return False
