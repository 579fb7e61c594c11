"""The key of a record that may be invalid: read only when every key field can be trusted.

A full feed's sweep must leave alone the entity of a rejected record, and must not run at all
when a rejected record's key cannot be known. A key is known when every key field is present
and holds a value of a type the schema admits for it; anything else (absent, null, a nested
value, a number where the schema wants a string, a text no store can hold: invalid UTF-8 or a
NUL) could name another entity than the stored one, so it counts as unknown.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from deltahook.catalog.entities import EntityKind
from deltahook.changes.canonical import key_string
from deltahook.feeds.values import storable_text


def readable_key(kind: EntityKind, data: Mapping[str, Any]) -> str | None:
    """The entity key of ``data`` when every key field has a value of its declared type."""
    types = kind.property_types()
    values = [data.get(name) for name in kind.key]
    if all(
        _admitted(value, types.get(name, set()))
        for name, value in zip(kind.key, values, strict=True)
    ):
        return key_string(values)
    return None


def _admitted(value: Any, types: set[str]) -> bool:
    if isinstance(value, bool):
        return "boolean" in types
    if isinstance(value, str):
        return "string" in types and storable_text(value)
    if isinstance(value, int):
        return bool(types & {"integer", "number"})
    if isinstance(value, float) and math.isfinite(value):
        return "number" in types or ("integer" in types and value.is_integer())
    return False
