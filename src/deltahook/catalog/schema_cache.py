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

An entry is named by a hash of everything its content depends on (the schema and value as
canonical JSON, the options, and the versions of Python, deltahook and the library), so an
edited schema or an upgraded library simply finds no entry. Only successes are kept: a check
that fails runs every time, so its error is the library's own, word for word. A cache that is
missing, unwritable, corrupt or stale never changes what a command does: entries carry a digest
of their bytes, are written to a temporary file and renamed, and any problem reading or writing
one means the work is done as if there were no cache.

Where: ``$DELTAHOOK_CACHE_DIR``, else ``$XDG_CACHE_HOME/deltahook``, else ``~/.cache/deltahook``.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import marshal
import math
import os
import re
import sys
import types
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import fastjsonschema

import deltahook

ENV = "DELTAHOOK_CACHE_DIR"
FORMAT = b"deltahook-schema-cache-1"
_MAGIC = b"DHSC1\n"
_DIGEST = 16
_DIST_INFO = re.compile(r"jsonschema-[^-]+\.dist-info")

Validator = Callable[[Any], Any]
Handlers = Mapping[str, Callable[[str], Any]]


def directory() -> Path | None:
    """Where entries are kept (None: no home directory to keep them in)."""
    configured = os.environ.get(ENV)
    if configured:
        return Path(configured) / "schemas"
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    try:
        base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache"
    except RuntimeError:  # no home directory can be determined
        return None
    return base / "deltahook" / "schemas"


def compile_validator(
    schema: Mapping[str, Any], *, handlers: Handlers | None = None, use_default: bool = True
) -> Validator:
    """``fastjsonschema.compile(schema, handlers=..., use_default=...)``, generated once.

    Raises what ``fastjsonschema`` raises for a schema it cannot compile. A schema with a
    ``$ref`` that is not local (``#...``) is compiled every time: what it refers to may change.
    """
    definition, refs = dict(schema), dict(handlers or {})
    key = _key(b"fastjsonschema", fastjsonschema.VERSION, use_default, definition)
    found_refs = _refs(definition)
    local = all(isinstance(ref, str) and ref.startswith("#") for ref in found_refs)
    path = _entry(key, ".code") if key is not None and local else None
    if path is None:
        return fastjsonschema.compile(definition, handlers=refs, use_default=use_default)
    found = _read_code(path)
    validator = _load(*found) if found is not None else None
    if validator is not None:
        if found_refs:  # compiling rewrites each $ref in place (made absolute): so does a hit
            _root_name(definition, refs)
        return validator
    source = fastjsonschema.compile_to_code(definition, handlers=refs, use_default=use_default)
    name, code = _root_name(definition, refs), compile(source, "<fastjsonschema>", "exec")
    validator = _load(name, code)
    if validator is None:  # never seen: the library's own code always loads
        return fastjsonschema.compile(definition, handlers=refs, use_default=use_default)
    _write(path, marshal.dumps((name, code)))
    return validator


def voucher(check: str, *values: Any) -> Path | None:
    """Where the fact that the ``jsonschema`` check named ``check`` passed for ``values`` is
    kept (None: it cannot be, e.g. a value that is not plain JSON).

    ``vouched(path)`` says whether it passed before; ``vouch(path)`` records that it did.
    """
    version = _jsonschema_version()
    key = _key(check.encode(), version, *values) if version is not None else None
    return _entry(key, ".ok") if key is not None else None


def vouched(path: Path | None) -> bool:
    """True when the check this ``voucher`` names passed before."""
    return path is not None and path.is_file()


def vouch(path: Path | None) -> None:
    """Remember that the check this ``voucher`` names passed (quietly nothing if it cannot)."""
    if path is not None:
        _write(path, b"")


@cache
def _jsonschema_version() -> str | None:
    """The installed jsonschema's version, without importing it (None: unknown, keep nothing).

    Its ``*.dist-info`` folder beside the package names it; ``importlib.metadata`` (a few ms
    more) is asked only when that is not found.
    """
    spec = importlib.util.find_spec("jsonschema")
    if spec is None or spec.origin is None:
        return None
    folder = os.path.dirname(os.path.dirname(spec.origin))
    try:
        found = [n for n in os.listdir(folder) if _DIST_INFO.fullmatch(n)]
    except OSError:
        found = []
    if len(found) == 1:
        return found[0]
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("jsonschema")
    except (PackageNotFoundError, ValueError):
        return None


def _key(kind: bytes, version: str, *values: Any) -> str | None:
    """A name for what depends on exactly these values and versions (None: not JSON)."""
    digest = hashlib.blake2b(digest_size=20)
    for part in (FORMAT, kind, version.encode(), deltahook.__version__.encode()):
        digest.update(part + b"\0")
    digest.update(sys.version.encode() + b"\0")
    for value in values:
        if not _plain(value):
            return None
        digest.update(json.dumps(value, sort_keys=True, separators=(",", ":")).encode() + b"\0")
    return digest.hexdigest()


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


def _entry(key: str, suffix: str) -> Path | None:
    folder = directory()
    return folder / f"{key}{suffix}" if folder is not None else None


def _read_code(path: Path) -> tuple[str, types.CodeType] | None:
    """A kept validator's root name and code, or None when it is absent or not intact."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    body = data[len(_MAGIC) + _DIGEST :]
    head = _MAGIC + hashlib.blake2b(body, digest_size=_DIGEST).digest()
    if not data.startswith(head):
        return None
    try:
        name, code = marshal.loads(body)
    except (ValueError, EOFError, TypeError):
        return None
    if isinstance(name, str) and isinstance(code, types.CodeType):
        return name, code
    return None


def _write(path: Path, body: bytes) -> None:
    """Write an entry whole or not at all; a cache that cannot be written is not an error."""
    data = _MAGIC + hashlib.blake2b(body, digest_size=_DIGEST).digest() + body if body else b""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_bytes(data)
        os.replace(temporary, path)
    except OSError:
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)
