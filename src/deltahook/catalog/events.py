"""Event types: the messages deltahook sends, each with a JSON Schema for its payload.

Every ``schemas/events/<TypeName>.json`` declares one type. Besides an ordinary draft-07
schema, the file carries an annotation saying what the type is::

    "x-deltahook": {"type": "SkuChangedNotification", "family": "notification",
                    "category": "Product"}

The catalog is read once at start-up and a bad file stops it there (``CatalogError`` naming
the file), so nothing is ever sent with a payload no schema describes. Payloads are checked on
the hot path by a compiled validator (``fastjsonschema``, about 20x ``jsonschema``); only when
that rejects one does ``jsonschema`` run, to say in words a person can act on what is wrong.

Lookup by name: ``EventCatalog.get`` returns ``None`` for an unknown name, like ``dict.get``;
``EventCatalog.require`` raises ``EventError`` suggesting the closest known names, for names
that come from a person (config files, the command line).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, cast, get_args

import fastjsonschema
import orjson

from deltahook.catalog import formats, schema_cache
from deltahook.errors import CatalogError, EventError

Family = Literal["notification", "event"]
Category = Literal["Product", "Customer", "Order", "Supplier", "System"]

FAMILIES: tuple[str, ...] = get_args(Family)
CATEGORIES: tuple[str, ...] = get_args(Category)
ANNOTATION = "x-deltahook"
DRAFT_07 = frozenset(
    {"http://json-schema.org/draft-07/schema#", "http://json-schema.org/draft-07/schema"}
)

Validator = Callable[[Any], Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class EventType:
    """One event type: its name, family, category and payload schema.

    ``schema`` is the file's content as loaded; treat it as read-only.
    """

    name: str
    family: Family
    category: Category
    schema: Mapping[str, Any] = field(hash=False, compare=False, repr=False)
    validator: Validator = field(hash=False, compare=False, repr=False)

    @property
    def description(self) -> str:
        """The schema's description, for listings and generated documentation."""
        return str(self.schema.get("description", ""))

    def is_valid(self, payload: Any) -> bool:
        """Whether ``payload`` matches the schema (the fast path: no messages are built)."""
        try:
            self.validator(payload)
        except fastjsonschema.JsonSchemaValueException:
            return False
        return True

    def errors(self, payload: Any) -> list[str]:
        """Every problem with ``payload``, one readable line each; empty when it is valid.

        The slow validator runs only after the fast one has failed, so valid payloads cost
        one compiled check.
        """
        try:
            self.validator(payload)
        except fastjsonschema.JsonSchemaValueException as fast_error:
            messages = readable_errors(self.schema, payload)
            # The two validators agree in practice; never report "invalid" with no reason.
            return messages or [fast_error.message]
        return []


@dataclass(frozen=True, slots=True)
class EventCatalog:
    """Every known event type, by name. Built by ``load_event_catalog``."""

    types: Mapping[str, EventType]

    def __post_init__(self) -> None:
        object.__setattr__(self, "types", MappingProxyType(dict(self.types)))

    def __contains__(self, name: object) -> bool:
        return name in self.types

    def __iter__(self) -> Iterator[EventType]:
        return iter(self.types.values())

    def __len__(self) -> int:
        return len(self.types)

    def names(self) -> tuple[str, ...]:
        """The type names, sorted."""
        return tuple(sorted(self.types))

    def get(self, name: str) -> EventType | None:
        """The type called ``name``, or ``None`` when there is none."""
        return self.types.get(name)

    def require(self, name: str) -> EventType:
        """The type called ``name``; raises ``EventError`` suggesting close names otherwise."""
        event_type = self.types.get(name)
        if event_type is None:
            raise EventError(unknown_type_message(name, self.names()))
        return event_type

    def validate(self, name: str, payload: Any) -> None:
        """Raise ``EventError`` naming the type and every problem unless ``payload`` is valid."""
        problems = self.require(name).errors(payload)
        if problems:
            message = f"invalid {name} payload: {'; '.join(problems)}"
            raise EventError(message, event_type=name, problems=problems)


def unknown_type_message(name: str, known: tuple[str, ...]) -> str:
    """Say that ``name`` is unknown, with the closest known names when some are close."""
    import difflib  # only to word a mistake: loading and using the catalog never needs it

    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return f"unknown event type {name!r}{hint}"


def readable_errors(schema: Mapping[str, Any], payload: Any) -> list[str]:
    """``jsonschema``'s messages, each prefixed by where in the payload it applies."""
    import jsonschema  # only to explain a rejection: the fast path never needs it

    validator = jsonschema.Draft7Validator(schema, format_checker=formats.checker())
    found = sorted(
        validator.iter_errors(payload), key=lambda e: (list(map(str, e.path)), e.message)
    )
    return [_locate(list(error.absolute_path), error.message) for error in found]


def _locate(path: list[str | int], message: str) -> str:
    """``Field.sub[2]: message``; problems with the whole payload get no prefix."""
    if not path:
        return str(message)
    where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in path)
    return f"{where.lstrip('.')}: {message}"


def load_event_catalog(directory: Path) -> EventCatalog:
    """Read every ``*.json`` in ``directory`` into a catalog.

    Raises ``CatalogError`` naming the first bad file: unreadable or invalid JSON, not a
    draft-07 schema, a missing or wrong annotation, or an example its own schema rejects.
    """
    if not directory.is_dir():
        raise CatalogError(str(directory), "event schema directory does not exist")
    paths = sorted(directory.glob("*.json"))
    if not paths:
        raise CatalogError(str(directory), "no event schemas (*.json) found")
    return _load_files(tuple((path, _stamp(path)) for path in paths))


Stamp = bytes | None


def _stamp(path: Path) -> Stamp:
    """The digest of the file's content (None: unreadable, and the load will say so)."""
    try:
        return hashlib.blake2b(path.read_bytes(), digest_size=16).digest()
    except OSError:
        return None


@lru_cache(maxsize=8)
def _load_files(files: tuple[tuple[Path, Stamp], ...]) -> EventCatalog:
    """The catalog of ``files``, compiled once per process while none of them changes.

    Settings and the engine both load it; compiling every schema again costs about as much
    CPU as everything else a short command does.
    """
    return EventCatalog({path.stem: load_event_type(path) for path, _ in files})


def load_event_type(path: Path) -> EventType:
    """Read and check one schema file; the type's name is the file's stem."""
    schema = _read_json_object(path)
    _check_draft_07(path, schema)
    family, category = _check_annotation(path, schema)
    validator = _compile(path, schema)
    event_type = EventType(
        name=path.stem,
        family=family,
        category=category,
        schema=schema,
        validator=validator,
    )
    _check_examples(path, event_type)
    return event_type


def _read_json_object(path: Path) -> dict[str, Any]:
    try:
        loaded = orjson.loads(path.read_bytes())
    except OSError as error:
        raise CatalogError(str(path), f"cannot read: {error.strerror}") from error
    except orjson.JSONDecodeError as error:
        raise CatalogError(str(path), f"invalid JSON: {error}") from error
    if not isinstance(loaded, dict):
        raise CatalogError(str(path), "a schema must be a JSON object")
    return cast(dict[str, Any], loaded)


def _check_draft_07(path: Path, schema: Mapping[str, Any]) -> None:
    declared = schema.get("$schema")
    if declared is not None and declared not in DRAFT_07:
        raise CatalogError(str(path), f"$schema must be draft-07, not {declared!r}")
    _check_meta_schema(path, schema)
    if schema.get("type") != "object":
        raise CatalogError(str(path), 'an event payload must be an object ("type": "object")')


def _check_meta_schema(path: Path, schema: Mapping[str, Any]) -> None:
    """The schema against draft-07's meta-schema, once per content (``schema_cache``)."""
    error = schema_cache.draft7_schema_error(schema)
    if error is not None:
        where = "/".join(map(str, error.absolute_path)) or "(root)"
        raise CatalogError(str(path), f"not a valid schema at {where}: {error.message}") from error


def _check_annotation(path: Path, schema: Mapping[str, Any]) -> tuple[Family, Category]:
    """Check the ``x-deltahook`` annotation and return its family and category."""
    annotation = schema.get(ANNOTATION)
    if not isinstance(annotation, dict):
        raise CatalogError(str(path), f'missing "{ANNOTATION}" object with type, family, category')
    unknown = sorted(set(annotation) - {"type", "family", "category"})
    if unknown:
        raise CatalogError(str(path), f"{ANNOTATION}: unknown keys {', '.join(unknown)}")
    if annotation.get("type") != path.stem:
        raise CatalogError(
            str(path),
            f"{ANNOTATION}.type is {annotation.get('type')!r} but the file is named {path.stem!r}",
        )
    family = annotation.get("family")
    if family not in FAMILIES:
        raise CatalogError(
            str(path), f"{ANNOTATION}.family must be {' or '.join(FAMILIES)}, not {family!r}"
        )
    category = annotation.get("category")
    if category not in CATEGORIES:
        raise CatalogError(
            str(path),
            f"{ANNOTATION}.category must be one of {', '.join(CATEGORIES)}, not {category!r}",
        )
    return cast(Family, family), cast(Category, category)


def _refuse_remote_ref(uri: str) -> Any:
    """Schemas are self-contained: loading one must never reach the network or other files."""
    raise fastjsonschema.JsonSchemaDefinitionException(f"external $ref not allowed: {uri}")


def _compile(path: Path, schema: dict[str, Any]) -> Validator:
    handlers = dict.fromkeys(("http", "https", "file"), _refuse_remote_ref)
    try:
        # use_default=False: validating must never fill defaults into the caller's payload.
        return schema_cache.compile_validator(schema, handlers=handlers, use_default=False)
    except fastjsonschema.JsonSchemaDefinitionException as error:
        raise CatalogError(str(path), f"cannot compile schema: {error}") from error


def _check_examples(path: Path, event_type: EventType) -> None:
    """A wrong example misleads every reader of the catalog, so it is an error too."""
    examples = event_type.schema.get("examples", [])
    for number, example in enumerate(examples, start=1):
        problems = event_type.errors(example)
        if problems:
            raise CatalogError(str(path), f"example {number} is invalid: {'; '.join(problems)}")
