"""What the readers yield: records, rejects and (NDJSON, lazily) lines not parsed yet."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from deltahook.feeds import values


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


def unknown_names(kind: str, names: list[str], *, what: str = "field") -> str:
    """The reason that rejects a record (or a CSV header) naming what its kind does not
    define: every name up to ``_SHOWN_NAMES``, then how many more."""
    shown = repr(names[:_SHOWN_NAMES])
    if len(names) > _SHOWN_NAMES:
        shown += f" and {len(names) - _SHOWN_NAMES} more"
    return f"unknown {what}(s) for kind {kind!r}: {shown}"


_SHOWN_NAMES = 20


Item = Record | Reject
# Stands for an NDJSON line over ``values.MAX_RECORD`` bytes, which is read past, not kept: not
# JSON (so no stored line has its hash), and parsed to the line's rejection.
TOO_LONG_LINE = b"\x00line too long\x00"


@dataclass(frozen=True, slots=True)
class Line:
    """One NDJSON line not parsed yet: its number and its bytes as read (line break included)."""

    line: int
    raw: bytes

    def content(self) -> bytes:
        """What a line hash is made of: the line with one ``\\n`` for its line break, whichever
        it had (``\\r\\n`` or none at the end of the stream), so that a line read as it is, the
        way nearly every line is, needs no copy."""
        return self.raw.rstrip(b"\r\n") + b"\n"

    def parse(self) -> Item:
        try:
            data = orjson.loads(self.raw)
        except orjson.JSONDecodeError as exc:
            if self.raw.startswith(TOO_LONG_LINE):
                return Reject(self.line, None, f"the line is {values.TOO_LONG}")
            reason = f"malformed JSON at column {exc.colno}: {exc.msg}"
            if b"\r" in self.raw.rstrip(b"\r\n"):  # old Mac line ends: the feed is one line
                reason += "; the line holds CR (\\r) line breaks: write lines ending in LF or CRLF"
            return self._reread(Reject(self.line, None, reason))
        if values.suspect(self.raw):
            return self._reread(as_record(self.line, data))
        if values.may_repeat_names(self.raw, data):
            name = values.repeated_name(self.raw)
            if name is not None:
                return Reject(self.line, name, values.REPEATED)
        return as_record(self.line, data, checked=True)

    def _reread(self, otherwise: Item) -> Item:
        """The line read by the standard library, which keeps what orjson refuses or rounds."""
        try:
            data = values.loads(self.raw.decode("utf-8", "surrogateescape"))
        except values.RepeatedName as repeated:
            return Reject(self.line, repeated.name, values.REPEATED)
        except RecursionError:
            return Reject(self.line, None, values.DEEP)
        except ValueError:
            return otherwise
        return as_record(self.line, data)


def as_record(line: int, data: Any, *, checked: bool = False) -> Item:
    """A record if ``data`` is an object, else a rejection."""
    if isinstance(data, dict):
        return Record(line, data, checked)
    return Reject(line, None, f"a record must be a JSON object, not {type(data).__name__}")


@dataclass(slots=True)
class LineBatch:
    """Consecutive non-blank NDJSON lines, unparsed, without one object per line.

    ``raws`` are the lines as read, ``\n`` included (a byte-order mark dropped from line 1),
    ``numbers`` their line numbers. ``crlf`` is False when no line can end in ``\r``; ``open_end``
    when the last line ended the stream without a line break.
    """

    numbers: list[int]
    raws: list[bytes]
    crlf: bool = False
    open_end: bool = False

    def __len__(self) -> int:
        return len(self.raws)

    def contents(self) -> list[bytes]:
        """Each line's ``Line.content``, what a line hash is made of: the lines as they are
        unless one can end in ``\\r\\n`` or the stream's last has no line break."""
        if self.crlf:
            return [raw.rstrip(b"\r\n") + b"\n" for raw in self.raws]
        if self.open_end:
            return [*self.raws[:-1], self.raws[-1] + b"\n"]
        return self.raws

    def line(self, index: int) -> Line:
        """The ``index``-th line as the line-by-line reader yields it (line break included)."""
        return Line(self.numbers[index], self.raws[index])

    def parse(self, index: int) -> Item:
        """``line(index).parse()``, without a ``Line`` for a line that parses cleanly into a
        record (nearly every line of a first load): anything else is read by ``Line.parse``."""
        raw = self.raws[index]
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return self.line(index).parse()
        if type(data) is not dict or values.suspect(raw) or values.may_repeat_names(raw, data):
            return self.line(index).parse()
        return Record(self.numbers[index], data, checked=True)

    def lines(self) -> list[Line]:
        return [self.line(index) for index in range(len(self.raws))]
