"""A seeded mutator of feeds: valid NDJSON, JSON-array and CSV feeds with one hostile change each.

``mutated_feeds(fmt, count, seed)`` yields ``count`` feeds, each a valid base feed with one
mutation: a value swapped for a hostile token (NaN, 1e400, a wide integer, a NUL, invalid
UTF-8, deep nesting, rich markup, an over-long text or cell), a byte flipped, inserted or
deleted, a line cut, doubled or split, a byte-order mark or CRLF endings. Everything comes from
the seed, so a failing feed can be made again from its seed and index.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import orjson

from deltahook.feeds.readers import Format

CSV_FIELDS: tuple[str, ...] = ("PartNo", "WarehouseCode", "WarehouseId", "LocationCode")
CSV_FIELDS += ("LocationId", "OnhandValue", "MinimumValue", "IsActive", "NextDeliveryDate")

JSON_TOKENS: tuple[bytes, ...] = (
    b"NaN",
    b"Infinity",
    b"-Infinity",
    b"1e400",
    b"-1e400",
    b"1e30",
    b"18446744073709551615",
    b"18446744073709551616",
    b"-9223372036854775809",
    b"1234567890123456789012345",
    b"7" * 5000,
    b'"\\u0000"',
    b'"P\\u0000X"',
    b'"\\ud800"',
    b'"\\udfff\\ud800"',
    b'"\xff\xfe"',
    b'"\xc3"',
    b'"[/b][link=x]"',
    b'"' + b"x" * 600 + b'"',
    b'"' + b"y" * 200_000 + b'"',
    b"[" * 100 + b"]" * 100,
    b"[" * 3000 + b"]" * 3000,
    b'{"a":' * 70 + b"1" + b"}" * 70,
    b"null",
    b"true",
    b"{}",
    b"[]",
    b'""',
    b"-0",
    b"0.1",
    b"1E2",
    b'"2026-13-45"',
)
CSV_TOKENS: tuple[bytes, ...] = (
    b"NaN",
    b"nan",
    b"inf",
    b"-Infinity",
    b"1e400",
    b"1e30",
    b"18446744073709551616",
    b"1234567890123456789012345",
    b"7" * 5000,
    b"\x00",
    b"P\x00X",
    b"\xff\xfe",
    b"\xc3",
    b"[/b][link=x]",
    b"x" * 600,
    b"A" * 140_000,
    b'"unbalanced',
    b'a"b',
    b'"a,b"',
    b"true",
    b"",
    b" ",
    b"1_000",
    "٣".encode(),
    b"0x10",
    b"null",
)
KEY_TOKENS: tuple[bytes, ...] = (b'"\\u0000"', b'"Part\\u0000No"', b'"' + b"k" * 300 + b'"', b'""')


@dataclass(frozen=True, slots=True)
class Mutated:
    """One feed and how it was made, for the failure message."""

    index: int
    how: str
    data: bytes
    kind: str


def stock_rows(count: int) -> list[dict[str, object]]:
    return [
        {
            "PartNo": f"P{n}",
            "WarehouseCode": "W1" if n % 3 else "W2",
            "WarehouseId": 1 + n % 3,
            "LocationCode": "A",
            "LocationId": 7,
            "OnhandValue": n * 1.5,
            "MinimumValue": 3,
            "IsActive": True,
            "NextDeliveryDate": "2026-12-0" + str(1 + n % 9),
        }
        for n in range(count)
    ]


def sku_rows(count: int) -> list[dict[str, object]]:
    return [
        {
            "PartNo": f"S{n}",
            "StatusId": 1,
            "Weight": 0.5 + n,
            "Cultures": [{"CultureCode": "sv-SE", "Name": f"Stol {n}"}],
            "SalesAreas": [{"SalesAreaId": 1, "VatRate": 25.0}],
        }
        for n in range(count)
    ]


def base_lines(fmt: Format, rows: list[dict[str, object]]) -> list[bytes]:
    """The feed as lines (without line breaks): one record per line."""
    if fmt == "csv":
        cells = [[_csv_text(row[name]) for name in CSV_FIELDS] for row in rows]
        return [b",".join(n.encode() for n in CSV_FIELDS), *[b",".join(c) for c in cells]]
    records = [orjson.dumps(row) for row in rows]
    if fmt == "ndjson":
        return records
    return [b"[", *[r + b"," for r in records[:-1]], records[-1], b"]"]


def _csv_text(value: object) -> bytes:
    if isinstance(value, bool):
        return b"true" if value else b"false"
    return str(value).encode()


Mutation = Callable[[random.Random, list[bytes], Format], str]


def mutated_feeds(fmt: Format, count: int, seed: int) -> Iterator[Mutated]:
    """``count`` feeds in ``fmt``, each one mutation away from a valid feed."""
    for index in range(count):
        rng = random.Random(f"{seed}:{fmt}:{index}")
        nested = fmt != "csv" and rng.random() < 0.25
        rows = sku_rows(6) if nested else stock_rows(8)
        lines = base_lines(fmt, rows)
        mutation = rng.choices(MUTATIONS, weights=[w for _, w in MUTATIONS_WEIGHTED])[0]
        how = mutation(rng, lines, fmt)
        data = b"\n".join(lines) + b"\n"
        if rng.random() < 0.05:
            data, how = data.replace(b"\n", b"\r\n"), how + " + CRLF"
        yield Mutated(index, how, data, "sku" if nested else "sku_onhand")


def _record_line(rng: random.Random, lines: list[bytes], fmt: Format) -> int:
    first = 1 if fmt in ("csv", "json") else 0
    last = len(lines) - (2 if fmt == "json" else 1)
    return rng.randint(first, last)


_JSON_VALUE = re.compile(rb':\s*("(?:[^"\\]|\\.)*"|[^,{}\[\]]+)')
_JSON_KEY = re.compile(rb'"(?:[^"\\]|\\.)*"(?=\s*:)')


def swap_value(rng: random.Random, lines: list[bytes], fmt: Format) -> str:
    n = _record_line(rng, lines, fmt)
    line = lines[n]
    if fmt == "csv":
        cells = line.split(b",")
        at = rng.randrange(len(cells))
        token = rng.choice(CSV_TOKENS)
        cells[at] = token
        lines[n] = b",".join(cells)
        return f"line {n + 1}: cell {at} := {token[:40]!r}"
    found = list(_JSON_VALUE.finditer(line))
    match = rng.choice(found)
    token = rng.choice(JSON_TOKENS)
    lines[n] = line[: match.start(1)] + token + line[match.end(1) :]
    return f"line {n + 1}: value {match.group(1)[:30]!r} := {token[:40]!r}"


def swap_key(rng: random.Random, lines: list[bytes], fmt: Format) -> str:
    if fmt == "csv":
        token = rng.choice((b"Part\x00No", b"\xff", b"k" * 300, b"[/b]", b""))
        cells = lines[0].split(b",")
        at = rng.randrange(len(cells))
        cells[at] = token
        lines[0] = b",".join(cells)
        return f"header cell {at} := {token[:40]!r}"
    n = _record_line(rng, lines, fmt)
    match = rng.choice(list(_JSON_KEY.finditer(lines[n])))
    token = rng.choice(KEY_TOKENS)
    lines[n] = lines[n][: match.start()] + token + lines[n][match.end() :]
    return f"line {n + 1}: key {match.group()!r} := {token[:40]!r}"


def insert_token(rng: random.Random, lines: list[bytes], fmt: Format) -> str:
    n = rng.randrange(len(lines))
    at = rng.randint(0, len(lines[n]))
    token = rng.choice(CSV_TOKENS if fmt == "csv" else JSON_TOKENS)
    lines[n] = lines[n][:at] + token + lines[n][at:]
    return f"line {n + 1}: insert {token[:40]!r} at {at}"


def flip_byte(rng: random.Random, lines: list[bytes], fmt: Format) -> str:
    n = rng.randrange(len(lines))
    if not lines[n]:
        return "nothing"
    at = rng.randrange(len(lines[n]))
    byte = rng.choice((rng.randrange(256), ord('"'), ord(","), ord("{"), ord("]"), 0, 0xFF))
    lines[n] = lines[n][:at] + bytes([byte]) + lines[n][at + 1 :]
    return f"line {n + 1}: byte {at} := {byte:#x}"


def delete_bytes(rng: random.Random, lines: list[bytes], fmt: Format) -> str:
    n = rng.randrange(len(lines))
    at = rng.randint(0, len(lines[n]))
    size = rng.randint(1, 8)
    lines[n] = lines[n][:at] + lines[n][at + size :]
    return f"line {n + 1}: delete {size} at {at}"


def reshape_lines(rng: random.Random, lines: list[bytes], fmt: Format) -> str:
    n = rng.randrange(len(lines))
    choice = rng.randrange(4)
    if choice == 0:
        del lines[n + 1 :]
        lines[n] = lines[n][: rng.randint(0, len(lines[n]))]
        return f"cut at line {n + 1}"
    if choice == 1:
        lines.insert(n, lines[n])
        return f"line {n + 1} doubled"
    if choice == 2:
        at = rng.randint(0, len(lines[n]))
        lines[n : n + 1] = [lines[n][:at], lines[n][at:]]
        return f"line {n + 1} split at {at}"
    lines[0] = b"\xef\xbb\xbf" + lines[0]
    return "byte-order mark"


MUTATIONS_WEIGHTED: tuple[tuple[Mutation, int], ...] = (
    (swap_value, 8),
    (swap_key, 2),
    (insert_token, 2),
    (flip_byte, 2),
    (delete_bytes, 1),
    (reshape_lines, 2),
)
MUTATIONS = [mutation for mutation, _ in MUTATIONS_WEIGHTED]
