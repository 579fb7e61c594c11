"""Validating records against their kind's schema.

The hot path uses a compiled validator (fastjsonschema, about 20 times faster than a prebuilt
``jsonschema`` validator); only a record that fails is checked again with ``jsonschema`` to
give the clearest message it can, naming the field. Fields the kind does not define, at any
depth, are named first, all of them by path (``Addresses.0.Town``): a misspelt name is the
likeliest cause of whatever else fails.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import fastjsonschema

from deltahook.catalog import formats, schema_cache
from deltahook.catalog.entities import Collection, EntityKind
from deltahook.feeds.items import unknown_names

if TYPE_CHECKING:
    from jsonschema import Draft7Validator
    from jsonschema.exceptions import ValidationError


@dataclass(frozen=True, slots=True)
class Problem:
    field: str | None
    reason: str


class RecordValidator:
    """Checks whole records, or (for merge feeds) partial ones that carry at least their keys."""

    def __init__(self, kind: EntityKind, *, partial: bool = False) -> None:
        self._kind = kind.name
        self._schema = _partial_schema(kind) if partial else dict(kind.schema)
        self._fast: Callable[[Any], Any] = schema_cache.compile_validator(self._schema)
        self._slow: Draft7Validator | None = None  # built for the first record that fails

    def problem(self, record: Mapping[str, Any]) -> Problem | None:
        """None when the record is valid, else the most relevant problem."""
        try:
            self._fast(record)
        except fastjsonschema.JsonSchemaException as fast:
            return self._explain(record, fast)
        return None

    def _explain(self, record: Mapping[str, Any], fast: Exception) -> Problem:
        from jsonschema import Draft7Validator
        from jsonschema.exceptions import best_match

        if self._slow is None:
            # fastjsonschema checks formats (a date, say): the explanation must check them too
            self._slow = Draft7Validator(self._schema, format_checker=formats.checker())
        errors = list(self._slow.iter_errors(record))
        unknown = _unknown_fields(errors)
        if unknown:
            return Problem(unknown[0], unknown_names(self._kind, unknown))
        error = best_match(errors)
        if error is None:  # the two validators disagree; trust the stricter verdict
            return _fast_problem(fast)
        path = ".".join(str(part) for part in error.absolute_path)
        if error.validator == "required" and isinstance(error.instance, dict):
            missing = [name for name in error.validator_value if name not in error.instance]
            name = missing[0] if missing else None
            field = f"{path}.{name}" if path and name else name
            return Problem(field, f"required field {name!r} is missing")
        return Problem(path or None, error.message)


def _unknown_fields(errors: list[ValidationError]) -> list[str]:
    """The paths of the fields no schema of theirs defines (``additionalProperties: false``),
    the root's first, then the nested ones by depth; each object's in the record's order."""
    paths: list[str] = []
    for error in sorted(errors, key=lambda error: len(error.absolute_path)):
        schema = error.schema
        if error.validator != "additionalProperties" or error.validator_value is not False:
            continue
        if not isinstance(error.instance, dict) or not isinstance(schema, Mapping):
            continue
        known = schema.get("properties", {})
        patterns = schema.get("patternProperties", {})
        prefix = "".join(f"{part}." for part in error.absolute_path)
        paths += [
            f"{prefix}{name}"
            for name in error.instance
            if name not in known and not any(re.search(p, name) for p in patterns)
        ]
    return paths


def _fast_problem(fast: Exception) -> Problem:
    """The problem as fastjsonschema put it (a format only it checks, say an email)."""
    if not isinstance(fast, fastjsonschema.JsonSchemaValueException) or not fast.path:
        return Problem(None, "record does not match its schema")
    field = ".".join(str(part) for part in fast.path[1:]) or None  # path[0] is "data"
    if fast.rule == "format" and isinstance(fast.definition, Mapping):
        return Problem(field, f"{fast.value!r} is not a {fast.definition.get('format')!r}")
    return Problem(field, fast.message.removeprefix(f"{fast.name} "))


def _partial_schema(kind: EntityKind) -> dict[str, Any]:
    """The kind's schema with only keys required, for merge records."""
    schema = copy.deepcopy(dict(kind.schema))
    schema["required"] = list(kind.key)
    _relax(schema.get("properties", {}), kind.collections)
    return schema


def _relax(properties: dict[str, Any], collections: Mapping[str, Collection]) -> None:
    for name, coll in collections.items():
        items = properties[name]["items"]
        items["required"] = list(coll.key)
        _relax(items.get("properties", {}), coll.collections)
