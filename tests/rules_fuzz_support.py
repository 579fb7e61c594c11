"""A seeded mutator of YAML files (rule files, the config file), broken as people and attackers do.

Each mutant is a shipped rule file with one to three mutations: lines dropped, doubled,
swapped, re-indented or cut short; a character or a word replaced; or a hostile snippet
(recursive anchors, a billion laughs, deep nesting, Python tags, huge integers, NaN, control
characters, regular expressions past the engine's limits) put in at a random line. The same
seed gives the same mutants, so a failing run can be replayed.
"""

from __future__ import annotations

import os
import random
import re
from collections.abc import Callable

LAUGHS = "".join(f"l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 9)}]\n" for n in range(1, 10)).replace(
    "*l0", "lol"
)
SNIPPETS = (
    "rules: &r [*r]",
    "x: &a {b: *a}",
    "x: !!python/object/apply:os.system [ls]",
    "x: !!python/name:os.system",
    "x: !!binary aGVsbG8=",
    "x: !!timestamp 2020-01-01",
    "x: !custom 1",
    "threshold: " + "9" * 5000,
    "threshold: .nan",
    "threshold: .inf",
    "threshold: -1e400",
    "x: " + "[" * 3000 + "]" * 3000,
    "x: " + "{a: " * 500 + "1" + "}" * 500,
    "x: \x01\x02",
    "x: \x7f\x85",
    'x: "\\ud800 \\x00 \\U0010FFFF"',
    "filter: {new.Name: {in: *l9}}",
    "filter: {new.Name: {matches: 'a{4294967296}'}}",
    "filter: {new.Name: {matches: '" + "(" * 5000 + ")" * 5000 + "'}}",
    "filter: {new.Name: {matches: '(a+)+$'}}",
    "filter: {new.Name: {matches: '['}}",
    "filter: {row.PriceListCode: {in: [SE, NO, on, yes, ~]}}",
    "filter: {new.PriceSale: {gt: 1e400}}",
    "filter: {all: []}",
    "filter: {not: {not: {not: {}}}}",
    "<<: *undefined",
    "? [a, b]\n: c",
    "? {a: 1}\n: c",
    "on: [insert, update, insert]",
    "id: " + "x" * 10_000,
    "\t- tab",
    "%YAML 1.1\n---",
    "--- \n...\n---",
    "'unterminated",
    "key: |\n  block\n bad",
    "&anchor",
    "*alias",
)
WORDS = (
    "insert", "update", "delete", "upsert", "true", "false", "null", "NO", "yes", "0x1F",
    "0o17", "1_000", "-0", ".5", "1e3", "PriceSale", "OnhandValue", "tClientProductSku",
    "row.PartNo", "new.X", "old.", "setting.table", "sku", "[]", "{}", "'", '"', "|", ">",
    "&x", "*x", "!!str", "!!int", "!!float", "!!bool", "-", ":", "#", "%", "@", "`",
)  # fmt: skip
CHARS = ":{}[]-&*!|>'\"#%@`?,\t \n\\\x00\x01\x1b\u2028\ufeff"


def fuzz_seed() -> int:
    """``$DELTAHOOK_FUZZ_SEED`` when set (to replay a run), else a new seed for this run."""
    given = os.environ.get("DELTAHOOK_FUZZ_SEED")
    return int(given) if given else random.SystemRandom().randrange(1 << 32)


def mutants(sources: list[str], seed: int, count: int) -> list[bytes]:
    """``count`` mutants of the YAML ``sources`` for ``seed`` (the same ones for a seed)."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        text = rng.choice(sources)
        for _ in range(rng.randint(1, 3)):
            text = rng.choice(MUTATIONS)(rng, text)
        data = text.encode()
        if rng.random() < 0.05:  # bytes that are not UTF-8
            at = rng.randrange(len(data) + 1)
            data = data[:at] + rng.choice((b"\xff", b"\xc3", b"\xed\xa0\x80")) + data[at:]
        out.append(data)
    return out


def _lines(text: str) -> list[str]:
    return text.split("\n") or [""]


def _drop_line(rng: random.Random, text: str) -> str:
    lines = _lines(text)
    del lines[rng.randrange(len(lines))]
    return "\n".join(lines)


def _double_line(rng: random.Random, text: str) -> str:
    lines = _lines(text)
    at = rng.randrange(len(lines))
    lines.insert(at, lines[at])
    return "\n".join(lines)


def _swap_lines(rng: random.Random, text: str) -> str:
    lines = _lines(text)
    a, b = rng.randrange(len(lines)), rng.randrange(len(lines))
    lines[a], lines[b] = lines[b], lines[a]
    return "\n".join(lines)


def _reindent(rng: random.Random, text: str) -> str:
    lines = _lines(text)
    at = rng.randrange(len(lines))
    lines[at] = " " * rng.randint(0, 12) + lines[at].lstrip()
    return "\n".join(lines)


def _cut(rng: random.Random, text: str) -> str:
    return text[: rng.randrange(len(text) + 1)]


def _char(rng: random.Random, text: str) -> str:
    at = rng.randrange(len(text) + 1)
    return text[:at] + rng.choice(CHARS) + text[at + rng.randint(0, 1) :]


def _word(rng: random.Random, text: str) -> str:
    spans = [m.span() for m in re.finditer(r"[\w.*]+", text)]
    if not spans:
        return text
    start, end = rng.choice(spans)
    return text[:start] + rng.choice(WORDS) + text[end:]


def _snippet(rng: random.Random, text: str) -> str:
    lines = _lines(text)
    at = rng.randrange(len(lines) + 1)
    indent = " " * rng.choice((0, 2, 4, 6, 8, 10))
    snippet = rng.choice(SNIPPETS)
    if "*l9" in snippet:
        lines.insert(0, LAUGHS.rstrip("\n"))
        at += 1
    lines.insert(at, "\n".join(indent + part for part in snippet.split("\n")))
    return "\n".join(lines)


MUTATIONS: tuple[Callable[[random.Random, str], str], ...] = (
    _drop_line,
    _double_line,
    _swap_lines,
    _reindent,
    _cut,
    _char,
    _word,
    _snippet,
    _snippet,
    _snippet,
)
