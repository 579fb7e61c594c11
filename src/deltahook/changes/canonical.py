"""Canonical form, keys and hashes of entity snapshots.

The canonical form is what is stored and compared: keyed collections become mappings from row
key to row (so reordering a list is no change), integral floats within 64 bits become integers
(so ``5`` and ``5.0`` are equal), and the bytes are serialised with sorted keys (so key order
never matters).
Absent fields stay absent, which keeps ``null`` and absent apart.

Any other list (of plain values, or of objects with no declared key) is a multiset: its items
are put in one order, that of their canonical bytes, so reordering it is no change either, while
an item added, removed or repeated is one. An object with no key is its own key: changing one
of its fields is that object removed and another added.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import orjson
import xxhash

if TYPE_CHECKING:  # the catalog's references need key_string: no import the other way round
    from deltahook.catalog.entities import Collection, EntityKind


class NormaliseError(ValueError):
    """A record's shape breaks its kind's keyed collections (for example a duplicate row key)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.reason = message


def duplicate_row(where: str, key: str) -> NormaliseError:
    """Two rows of one keyed collection with one key: which holds the values cannot be known."""
    return NormaliseError(where, f"duplicate row key {key!r} in a keyed collection")


def key_string(values: Sequence[Any]) -> str:
    """One stable string for a key made of one or more values, ``|``-separated."""
    if len(values) == 1:  # most keys: the join of one part is that part, without the join
        return key_part(values[0])
    return "|".join(key_part(value) for value in values)


def key_part(value: Any) -> str:
    """``key_string([value])``: one value's part of a key (without the list, for callers that
    run it for every entity of a first load)."""
    if type(value) is str and "|" not in value and "\\" not in value:
        return value  # the common case, first
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value)
    if "|" in text or "\\" in text:
        text = text.replace("\\", "\\\\").replace("|", "\\|")
    return text


# An escape (``\|``, ``\\``) or a part separator, in a key ``key_string`` wrote.
_KEY_TOKEN = re.compile(r"\\.|\|")


def no_entity_message(kind: EntityKind, key: str) -> str:
    """What to say when no ``kind`` entity has ``key``; for a key of another number of parts
    than the kind's, also how a key is written (a part holding ``|`` cannot be found else)."""
    message = f"no {kind.name} entity with key {key!r}"
    parts = 1 + sum(token.group() == "|" for token in _KEY_TOKEN.finditer(key))
    if parts == len(kind.key):
        return message
    return (
        f"{message}: a {kind.name} key is {'|'.join(kind.key)}, and a '|' or '\\' within a "
        "part is written '\\|' or '\\\\'"
    )


def entity_key(kind: EntityKind, record: Mapping[str, Any]) -> str:
    key = kind.key
    if len(key) == 1:  # most kinds: ``key_string`` of one value, without the list
        return key_part(record[key[0]])
    return key_string([record[name] for name in key])


def parent_key(kind: EntityKind, record: Mapping[str, Any]) -> str | None:
    if kind.parent is None:
        return None
    return key_string([record[name] for name in kind.parent.fields])


def scope_string(kind: EntityKind, record: Mapping[str, Any]) -> str:
    """The full-feed scope of an entity (empty for kinds scoped as a whole)."""
    return key_string([record.get(name) for name in kind.scope]) if kind.scope else ""


def normalise(kind: EntityKind, record: Mapping[str, Any]) -> dict[str, Any]:
    """The canonical body of a record: keyed collections by key, integral floats as integers."""
    return _normalise_object(record, kind.collections, "")


def _normalise_object(
    obj: Mapping[str, Any], collections: Mapping[str, Collection], where: str
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in obj.items():
        coll = collections.get(name)
        if coll is not None and isinstance(value, list):
            if value:  # an empty keyed collection and an absent one both mean "no rows"
                out[name] = _normalise_collection(value, coll, f"{where}{name}")
        else:
            out[name] = normalise_value(value)
    return out


def _normalise_collection(rows: list[Any], coll: Collection, where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for index, row in enumerate(rows):
        normal = _normalise_object(row, coll.collections, f"{where}[{index}].")
        key = key_string([normal.get(name) for name in coll.key])
        if key in out:
            raise duplicate_row(where, key)
        out[key] = normal
    return out


# Integral floats in this range become integers; beyond it orjson cannot write an integer.
_LOWEST_INT, _INT_BOUND = -(2.0**63), 2.0**64


def normalise_value(value: Any) -> Any:
    """A field's value in canonical form. Canonical values stay as they are (so the diff can
    compare a body stored before lists were put in order as if it had been)."""
    kind = type(value)
    if kind is float:
        return int(value) if value.is_integer() and _LOWEST_INT <= value < _INT_BOUND else value
    if kind is dict:
        return {k: normalise_value(v) for k, v in value.items()}
    if kind is list:
        return _in_order([normalise_value(v) for v in value])
    return value


def _in_order(items: list[Any]) -> list[Any]:
    """The items of a list that is not a keyed collection, in their canonical order."""
    if len(items) < 2:
        return items
    return sorted(items, key=canonical_bytes)


def denormalise(kind: EntityKind, body: Mapping[str, Any]) -> dict[str, Any]:
    """The record form of a canonical body: keyed collections back to lists, sorted by key."""
    return _denormalise_object(body, kind.collections)


def _denormalise_object(
    body: Mapping[str, Any], collections: Mapping[str, Collection]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in body.items():
        coll = collections.get(name)
        if coll is not None and isinstance(value, dict):
            out[name] = [_denormalise_object(value[k], coll.collections) for k in sorted(value)]
        else:
            out[name] = value
    return out


def canonical_bytes(body: Any) -> bytes:
    """The bytes of a canonical body (or value): equal bytes, equal under the diff."""
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)


def item_key(value: Any) -> bytes:
    """What identifies an item of a list that is not a keyed collection (a multiset)."""
    return canonical_bytes(normalise_value(value))


def kept(data: bytes) -> bytes:
    """A copy of orjson output that is kept alive by the thousand (a batch's rows).

    Each ``orjson.dumps`` result that stays alive made the C allocator take fresh memory (one
    page fault per result, even for 40 bytes, on glibc): the change log of a first-load batch
    spent more time in the kernel than in Python. A copy lets orjson's buffer be freed and
    reused at once; it costs a tenth of what it saves.
    """
    return bytes(memoryview(data))


def digest(data: bytes) -> bytes:
    """A 128-bit hash of canonical bytes: equal bytes, equal hash; collisions negligible."""
    return xxhash.xxh3_128_digest(data)
