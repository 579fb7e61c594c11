"""JSON Schema work done once per machine, not once per process: a cache on disk.

Before a short command reads its first record it used to spend most of its own CPU on two
things that depend only on the schema files and the libraries installed: generating and
compiling fastjsonschema's validator for each schema, and checking each schema (and each
constant a payload mapping fixes) with ``jsonschema``, which it had to import for that. Both
results are kept in the user's cache directory:

- ``compile_validator``: fastjsonschema's generated validator (``compile_to_code``, the form
  the library offers for keeping), kept as a compiled code object;
- ``vouched`` / ``vouch``: the fact that a check passed (a schema against the draft-07
  meta-schema, a value against a schema), kept as an empty file.

Entries live in ``deltahook.diskcache`` (its folder ``schemas``), named by a hash of the schema
and value as canonical JSON, the options and the library's version. Only successes are kept: a
check that fails runs every time, so its error is the library's own, word for word.
"""

from __future__ import annotations

import importlib.util
import json
import marshal
import math
import os
import re
import types
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import fastjsonschema

from deltahook import diskcache
from deltahook.catalog.formats import FORMATS

if TYPE_CHECKING:
    from jsonschema.exceptions import SchemaError

FORMAT = b"deltahook-schema-cache-1"
_DIST_INFO = re.compile(r"jsonschema-[^-]+\.dist-info")
# What jsonschema's format checker imports when it can (jsonschema/_format.py).
_FORMAT_PACKAGES = (
    "fqdn",
    "idna",
    "isoduration",
    "jsonpointer",
    "rfc3339_validator",
    "rfc3986_validator",
    "rfc3987",
    "rfc3987_syntax",
    "uri_template",
    "webcolors",
)

Validator = Callable[[Any], Any]
Handlers = Mapping[str, Callable[[str], Any]]


def compile_validator(
    schema: Mapping[str, Any], *, handlers: Handlers | None = None, use_default: bool = True
) -> Validator:
    """``fastjsonschema.compile(schema, handlers=..., use_default=...)``, generated once, with
    deltahook's own ``date`` and ``date-time`` (``catalog.formats``).

    Raises what ``fastjsonschema`` raises for a schema it cannot compile. A schema with a
    ``$ref`` that is not local (``#...``) is compiled every time: what it refers to may change.
    """
    definition, refs = dict(schema), dict(handlers or {})
    found_refs = _refs(definition)
    local = all(isinstance(ref, str) and ref.startswith("#") for ref in found_refs)
    values = (use_default, definition, FORMATS)
    path = _entry(b"fastjsonschema", fastjsonschema.VERSION, values, ".code") if local else None
    validator = None
    if path is not None:
        validator = _kept(path, definition, refs, use_default=use_default, rewrite=bool(found_refs))
    if validator is None:  # not to be kept (a remote $ref, a value not JSON) or never loads
        validator = fastjsonschema.compile(
            definition, handlers=refs, formats=FORMATS, use_default=use_default
        )
    return validator


def _kept(
    path: Path, schema: dict[str, Any], handlers: Handlers, *, use_default: bool, rewrite: bool
) -> Validator | None:
    """The validator kept at ``path``, generated and kept now when it is not there yet (None:
    the generated code does not load, never seen). ``rewrite``: the schema has ``$ref`` values,
    which compiling rewrites in place (made absolute), so a kept validator does it too."""
    found = _read_code(path)
    validator = _load(*found) if found is not None else None
    if validator is not None:
        if rewrite:
            _root_name(schema, handlers)
        return validator
    source = fastjsonschema.compile_to_code(
        schema, handlers=handlers, formats=FORMATS, use_default=use_default
    )
    name, code = _root_name(schema, handlers), compile(source, "<fastjsonschema>", "exec")
    validator = _load(name, code)
    if validator is not None:
        diskcache.write(path, marshal.dumps((name, code)))
    return validator


def draft7_schema_error(schema: Any) -> SchemaError | None:
    """Why ``schema`` is not a valid draft-07 schema (``jsonschema``'s ``check_schema``), or
    None when it is. A pass is kept (``voucher``), so jsonschema is imported only for a schema
    not seen passing before."""
    passed = voucher("draft7-schema", schema)
    if vouched(passed):
        return None
    from jsonschema import Draft7Validator
    from jsonschema.exceptions import SchemaError

    try:
        Draft7Validator.check_schema(schema)
    except SchemaError as error:
        return error
    vouch(passed)
    return None


def voucher(check: str, *values: Any) -> Path | None:
    """Where the fact that the ``jsonschema`` check named ``check`` passed for ``values`` is
    kept (None: it cannot be, e.g. a value that is not plain JSON).

    ``vouched(path)`` says whether it passed before; ``vouch(path)`` records that it did.
    """
    version = _jsonschema_version()
    return _entry(check.encode(), version, values, ".ok") if version is not None else None


def vouched(path: Path | None) -> bool:
    """True when the check this ``voucher`` names passed before."""
    return path is not None and diskcache.read(path) is not None


def vouch(path: Path | None) -> None:
    """Remember that the check this ``voucher`` names passed (quietly nothing if it cannot)."""
    if path is not None:
        diskcache.write(path, b"")


@cache
def _jsonschema_version() -> str | None:
    """The installed jsonschema's version and which of the packages its format checker uses
    are there (a check can pass without one and fail with it), without importing it.

    None (keep nothing) when jsonschema cannot be found. Its ``*.dist-info`` folder beside the
    package names the version; ``importlib.metadata`` (a few ms more) is asked only when that
    is not found.
    """
    spec = importlib.util.find_spec("jsonschema")
    if spec is None or spec.origin is None:
        return None
    folder = os.path.dirname(os.path.dirname(spec.origin))
    try:
        found = [n for n in os.listdir(folder) if _DIST_INFO.fullmatch(n)]
    except OSError:
        found = []
    present = [name for name in _FORMAT_PACKAGES if importlib.util.find_spec(name) is not None]
    if len(found) == 1:
        return " ".join([found[0], *present])
    from importlib.metadata import PackageNotFoundError, version

    try:
        return " ".join([version("jsonschema"), *present])
    except (PackageNotFoundError, ValueError):
        return None


def _entry(kind: bytes, version: str, values: tuple[Any, ...], suffix: str) -> Path | None:
    """The entry for what depends on exactly these values (None: one of them is not JSON)."""
    if not all(_plain(value) for value in values):
        return None
    parts = [FORMAT, kind, version.encode()]
    parts += [json.dumps(v, sort_keys=True, separators=(",", ":")).encode() for v in values]
    return diskcache.entry("schemas", parts, suffix)


def _plain(value: Any) -> bool:
    """True for JSON exactly: str-keyed dicts, lists, strings, finite numbers, booleans, null.

    Anything else (a tuple, a date, NaN, a subclass) could write like a different value.
    """
    kind = type(value)
    if kind is dict:
        return all(type(k) is str and _plain(v) for k, v in value.items())
    if kind is list:
        return all(_plain(item) for item in value)
    if kind is float:
        return math.isfinite(value)
    return kind in (str, int, bool) or value is None


def _refs(schema: Any) -> list[Any]:
    """Every ``$ref`` value in the schema (a non-string one too: it is not local)."""
    if isinstance(schema, dict):
        found = [schema["$ref"]] if "$ref" in schema else []
        return found + [ref for value in schema.values() for ref in _refs(value)]
    if isinstance(schema, list):
        return [ref for item in schema for ref in _refs(item)]
    return []


def _root_name(schema: dict[str, Any], handlers: Handlers) -> str:
    """The name of the generated root function, found as ``fastjsonschema.compile`` finds it
    (which, like compiling, rewrites the schema's ``$ref`` values in place)."""
    from fastjsonschema.ref_resolver import RefResolver

    return RefResolver.from_schema(schema, handlers=handlers, store={}).get_scope_name()


def _load(name: str, code: types.CodeType) -> Validator | None:
    """Run the generated module and return its root function (None: it is not there)."""
    namespace: dict[str, Any] = {"re": re}  # as ``fastjsonschema.compile`` provides
    try:
        exec(code, namespace)
    except Exception:
        return None
    validator = namespace.get(name)
    return validator if callable(validator) else None


def _read_code(path: Path) -> tuple[str, types.CodeType] | None:
    """A kept validator's root name and code, or None when it is absent or not intact."""
    body = diskcache.read(path)
    if body is None:
        return None
    try:
        name, code = marshal.loads(body)
    except (ValueError, EOFError, TypeError):
        return None
    if isinstance(name, str) and isinstance(code, types.CodeType):
        return name, code
    return None
