"""A buffered reader of a JSON text that decodes one value at a time and counts lines.

Values are decoded by ``feeds.values.NAMES_DECODER``, which keeps wide integers for the check
that rejects them and tells of an object holding a name twice (``repeated``); a value nested
deeper than the interpreter recurses raises ``RecursionError``.
"""

from __future__ import annotations

import json
from typing import IO, Any

from deltahook.feeds import values

_CHUNK = 1 << 20


class JsonStream:
    """A buffered reader that decodes one JSON value at a time and counts lines."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.buf = ""
        self.pos = 0
        self.line = 1
        self.eof = False
        self.decoder = values.NAMES_DECODER
        self.repeated: str | None = None  # a name an object of the last value held twice

    def _fill(self) -> bool:
        if self.eof:
            return False
        chunk = self.stream.read(_CHUNK)
        if not chunk:
            self.eof = True
            return False
        self.buf = self.buf[self.pos :] + chunk
        self.pos = 0
        return True

    def skip_space(self) -> None:
        while True:
            while self.pos < len(self.buf) and self.buf[self.pos] in " \t\r\n":
                if self.buf[self.pos] == "\n":
                    self.line += 1
                self.pos += 1
            if self.pos < len(self.buf) or not self._fill():
                return

    def at_end(self) -> bool:
        """Whether only whitespace is left."""
        self.skip_space()
        return self.pos >= len(self.buf)

    def expect(self, char: str) -> bool:
        self.skip_space()
        if self.pos < len(self.buf) and self.buf[self.pos] == char:
            self.pos += 1
            return True
        return False

    def value(self) -> Any:
        self.skip_space()
        while True:
            try:
                try:
                    data, end = self.decoder.raw_decode(self.buf, self.pos)
                    repeated = None
                except values.RepeatedName as exc:  # read it whole again, to go past it
                    data, end = values.DECODER.raw_decode(self.buf, self.pos)
                    repeated = exc.name
            except json.JSONDecodeError as exc:
                held = len(self.buf) - self.pos
                if held < values.MAX_RECORD and self._fill():
                    continue
                if held >= values.MAX_RECORD:
                    raise ValueError(f"an element {values.TOO_LONG}") from None
                line = self.line + self.buf.count("\n", self.pos, exc.pos)
                raise ValueError(f"malformed JSON at line {line}: {exc.msg}") from None
            self.line += self.buf.count("\n", self.pos, end)
            self.pos = end
            self.repeated = repeated
            return data
