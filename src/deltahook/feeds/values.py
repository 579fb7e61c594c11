"""Values no store can keep: one check for the records of every reader, before their schema.

JSON lets through what a store cannot keep, and the readers differ in what they let through:
the standard library's parser (JSON arrays) reads ``NaN``, ``Infinity``, ``1e400`` (as
infinity), integers of any width and lone surrogates; CSV cells convert the same way; orjson
(NDJSON) refuses most of these but reads an integer wider than 64 bits as a rounded float.
So every reader hands its records here (NDJSON only the lines ``suspect`` picks out, after
reading them again with the standard library), and the same record gets the same rejection
whatever the format. ``problem`` names the first of these, with the path to it:

- an integer outside ``[-2**63, 2**64)``: orjson cannot write it, NDJSON would round it;
- NaN or an infinity: orjson writes ``null``, which is silent loss;
- a NUL character in a text or a property name: PostgreSQL text cannot hold it;
- a lone surrogate, which is what invalid UTF-8 is read as: no UTF-8 store can hold it;
- nesting deeper than ``MAX_DEPTH``: orjson writes at most 255 levels, and every step after
  reading (validation, diff) walks the record.

Both parsers keep the last of two values under one name in an object (``{"Price": 1, "Price":
2}``), so the first would be lost without a word: ``repeated_name`` finds such a name, for the
readers to reject the record (NDJSON only for the lines ``may_repeat_names`` picks out, and
every line read again by ``loads``).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any, Final

import orjson

from deltahook.feeds.validate import Problem

MAX_DEPTH: Final = 64
# A record's most bytes (an NDJSON line, a JSON array element): one larger is rejected unread, so
# that memory stays bounded whatever the feed (a record costs ~10x its size once parsed).
MAX_RECORD: Final = 16 << 20
TOO_LONG = f"larger than {MAX_RECORD >> 20} MB, the most a record may be"
WIDE = "integer does not fit in 64 bits"
NOT_FINITE = "not a finite number: NaN, Infinity and numbers beyond ±1.8e308 cannot be stored"
NUL = "contains a NUL character (\\u0000), which cannot be stored"
NOT_UTF8 = "is not valid UTF-8"
DEEP = f"nested more than {MAX_DEPTH} levels deep"

_LOWEST, _HIGHEST = -(1 << 63), (1 << 64) - 1
_SURROGATE = re.compile("[\ud800-\udfff]")
_INTEGER = re.compile(r"\s*[+-]?\d+\s*")


class WideInteger:
    """An integer literal with more digits than Python converts (it is rejected as too wide)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<integer too wide to read>"


WIDE_INTEGER: Final = WideInteger()


def parse_int(text: str) -> int | WideInteger:
    """``int(text)``, or ``WIDE_INTEGER`` for an integer beyond Python's digit limit."""
    try:
        return int(text)
    except ValueError:
        if _INTEGER.fullmatch(text):
            return WIDE_INTEGER
        raise


DECODER: Final = json.JSONDecoder(parse_int=parse_int)
REPEATED = "appears twice in one object: which of its values is meant?"


class RepeatedName(ValueError):
    """An object of the text being decoded holds ``name`` twice (``NAMES_DECODER``)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def _unrepeated(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) != len(pairs):
        seen: set[str] = set()
        for name, _ in pairs:
            if name in seen:
                raise RepeatedName(name)
            seen.add(name)
    return found


# ``DECODER``, raising ``RepeatedName`` for an object that holds a name twice.
NAMES_DECODER: Final = json.JSONDecoder(parse_int=parse_int, object_pairs_hook=_unrepeated)
_ESCAPED_COLON = b"\\u003"  # the start of \u003a (a colon) and of nine other escapes


def may_repeat_names(raw: bytes, data: Any) -> bool:
    """False when no object in the JSON text ``raw``, read by orjson as ``data``, can name a
    member twice (cheap byte tests). Every colon of ``raw`` is kept in orjson's writing of
    ``data`` (after a name, or in a text) but those of a member dropped for a repeated name, so
    more colons in ``raw`` may be a name written twice. A colon written as an escape
    (``\\u003a``) is one orjson writes plainly, so it could hide one: then it may (a
    backslash looked for first, with one ``memchr``)."""
    if raw.count(b":") != orjson.dumps(data).count(b":"):
        return True
    return b"\\" in raw and _ESCAPED_COLON in raw


def repeated_name(raw: bytes) -> str | None:
    """The first name an object of the JSON text ``raw`` holds twice, or None (also when it
    is not JSON: that is for the reader to say)."""
    try:
        NAMES_DECODER.decode(raw.decode("utf-8", "surrogateescape"))
    except RepeatedName as repeated:
        return repeated.name
    except (ValueError, RecursionError):
        return None
    return None


def loads(text: str) -> Any:
    """One JSON document, read with every value kept for ``problem`` to judge.

    Raises ``RepeatedName`` when an object holds a name twice, ``ValueError`` when it is not
    JSON and ``RecursionError`` when it nests too deep.
    """
    return NAMES_DECODER.decode(text)


# Digits to "0" (a run of 19 is a number orjson may round) and "[" to "{" (each opens a level).
_SHAPES = bytes.maketrans(b"123456789[", b"000000000{")
_LONG_NUMBER = b"0" * 19


def suspect(raw: bytes) -> bool:
    """True when a line orjson read may hold a value ``problem`` refuses (cheap byte tests).

    orjson refuses NaN, infinities and invalid UTF-8 itself; what it lets through is a NUL
    escape, an integer of 19 digits or more (read as a float beyond 64 bits), deep nesting.
    """
    if b"\\u0000" in raw:
        return True
    shapes = raw.translate(_SHAPES)
    return _LONG_NUMBER in shapes or shapes.count(b"{") > MAX_DEPTH


def problem(record: Mapping[str, Any]) -> Problem | None:
    """The first value of ``record`` no store can keep, or None."""
    return _object(record, (), 1)


def _object(obj: Mapping[str, Any], path: tuple[str | int, ...], depth: int) -> Problem | None:
    if depth > MAX_DEPTH:
        return Problem(_field(path[:1]), DEEP)
    for name, value in obj.items():
        bad = _text(name)
        if bad is not None:
            return Problem(_field(path), f"a property name {bad}")
        found = _value(value, (*path, name), depth)
        if found is not None:
            return found
    return None


def _value(value: Any, path: tuple[str | int, ...], depth: int) -> Problem | None:
    kind = type(value)
    reason: str | None = None
    if kind is str:
        reason = _text(value)
    elif kind is int:
        reason = None if _LOWEST <= value <= _HIGHEST else WIDE
    elif kind is float:
        reason = None if math.isfinite(value) else NOT_FINITE
    elif kind is dict:
        return _object(value, path, depth + 1)
    elif kind is list:
        return _list(value, path, depth + 1)
    elif kind is WideInteger:
        reason = WIDE
    return None if reason is None else Problem(_field(path), reason)


def _list(items: list[Any], path: tuple[str | int, ...], depth: int) -> Problem | None:
    if depth > MAX_DEPTH:
        return Problem(_field(path[:1]), DEEP)
    for index, item in enumerate(items):
        found = _value(item, (*path, index), depth)
        if found is not None:
            return found
    return None


def _text(text: str) -> str | None:
    if "\x00" in text:
        return NUL
    if not text.isascii() and _SURROGATE.search(text):
        return NOT_UTF8
    return None


def storable_text(text: str) -> bool:
    """True when ``text`` holds neither a NUL nor a lone surrogate (invalid UTF-8)."""
    return _text(text) is None


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be stored (``NUL`` or ``NOT_UTF8``), or None when it can."""
    return _text(text)


def _field(path: tuple[str | int, ...]) -> str | None:
    return ".".join(str(part) for part in path) or None


def printable(text: str) -> str:
    """``text`` with NUL and other control characters, and lone surrogates, escaped as
    ``\\uXXXX``: fit for any store and terminal (an escape sequence from a feed would recolour
    or clear the operator's terminal, a line break would split a one-line report)."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else _escaped(char) for char in text)


def _escaped(char: str) -> str:
    code = ord(char)
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"
