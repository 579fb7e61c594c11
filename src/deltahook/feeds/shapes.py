"""The record fast path: a kind's schema check and canonical form in one pass, compiled.

Admitting a new or changed record used to walk it twice in Python: fastjsonschema's validator,
then ``canonical.normalise``; together about two thirds of a baseline load's CPU beyond reading
the feed. ``compile_shape`` writes one Python function per kind from its schema that does both
at once, with the checks reduced to what the shipped schemas use (types, required and known
properties, lengths, bounds, patterns, formats, enums, keyed collections).

It only ever says yes to the easy case. It returns the canonical body when the record is
certainly valid (every check it makes is at least as strict as fastjsonschema's) and its
normalisation cannot fail; otherwise it returns None and the caller takes the path it always
took (the validator, whose rejects name the field and the reason, then ``normalise``), so the
answer and every message stay exactly what they were. A schema that uses a keyword it does not
know gets no fast path at all (``compile_shape`` returns None). ``tests/unit/test_shapes.py``
checks both halves on generated records: a body only for records the validator accepts, and
then the very body ``normalise`` makes, key order included.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import orjson
from fastjsonschema.draft04 import DOLLAR_FINDER
from fastjsonschema.draft07 import CodeGeneratorDraft07

from deltahook.catalog.entities import Collection, EntityKind
from deltahook.catalog.formats import FORMATS
from deltahook.changes import canonical

Shape = Callable[[Any], dict[str, Any] | None]

# Keywords that only describe: they never make a record invalid nor change it (``default``
# is not one: fastjsonschema writes defaults into the record it checks).
_NOTES = frozenset({"description", "title", "$schema", "$comment", "examples", "x-deltahook"})
_SCALAR_TYPES = {"string", "integer", "number", "boolean", "null"}
_SCALAR_KEYWORDS = {
    "type",
    "enum",
    "minLength",
    "maxLength",
    "pattern",
    "format",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
}
_DRAFT7 = {
    None,
    "http://json-schema.org/draft-07/schema#",
    "http://json-schema.org/draft-07/schema",
}
_cache: dict[bytes, Shape | None] = {}


class _Unsupported(Exception):
    """The schema uses something the fast path does not check: the kind gets none."""


def compile_shape(kind: EntityKind) -> Shape | None:
    """The kind's fast path (record in, canonical body or None out), or None if it has none."""
    memo = orjson.dumps([kind.schema, _collection_tree(kind.collections)])
    if memo not in _cache:
        _cache[memo] = _compile(kind)
    return _cache[memo]


def _collection_tree(collections: Mapping[str, Collection]) -> dict[str, Any]:
    return {n: [c.key, _collection_tree(c.collections)] for n, c in collections.items()}


def _compile(kind: EntityKind) -> Shape | None:
    if kind.schema.get("$schema") not in _DRAFT7:
        return None
    writer = _Writer()
    try:
        writer.object_function("admit", kind.schema, kind.collections)
    except _Unsupported:
        return None
    namespace: dict[str, Any] = {
        "LOW": -(2.0**63),
        "HIGH": 2.0**64,
        "key_string": canonical.key_string,
        **writer.constants,
    }
    source = "\n".join(writer.lines) + "\n"
    exec(compile(source, f"<deltahook shape of {kind.name}>", "exec"), namespace)
    shape: Shape = namespace["admit"]
    return shape


class _Writer:
    """Writes the source of one function per object schema (the root, each collection's rows)."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.constants: dict[str, Any] = {}
        self._names = 0

    def constant(self, value: Any) -> str:
        self._names += 1
        name = f"C{self._names}"
        self.constants[name] = value
        return name

    def object_function(
        self, name: str, schema: Mapping[str, Any], collections: Mapping[str, Collection]
    ) -> None:
        """``def name(d)``: the object's canonical form, or None."""
        _known(schema, {"type", "properties", "required", "additionalProperties"})
        if schema.get("type") != "object" or schema.get("additionalProperties", True) is not False:
            raise _Unsupported  # unknown properties would need the generic normaliser
        properties: Mapping[str, Any] = schema.get("properties", {})
        required = schema.get("required", [])
        if not set(collections) <= set(properties) or not set(required) <= set(properties):
            raise _Unsupported
        body: list[str] = [
            f"def {name}(d):",
            "    if type(d) is not dict:",
            "        return None",
            "    keys = d.keys()",
            f"    if not keys <= {self.constant(frozenset(properties))}:",
            "        return None",
        ]
        if required:
            body += [
                f"    if not {self.constant(frozenset(required))} <= keys:",
                "        return None",
            ]
        body.append("    out = dict(d)")
        later: list[tuple[str, Mapping[str, Any], Collection]] = []
        for prop, spec in properties.items():
            coll = collections.get(prop)
            body += [f"    if {prop!r} in d:", f"        v = d[{prop!r}]"]
            if coll is not None:
                rows = f"{name}_{len(later)}"
                later.append((rows, spec, coll))
                body += _indent(self.collection(prop, spec, coll, rows), 2)
            else:
                body += _indent(self.value(prop, spec), 2)
        body.append("    return out")
        self.lines += [*body, ""]
        for rows, spec, coll in later:
            self.object_function(rows, spec["items"], coll.collections)

    def collection(
        self, prop: str, spec: Mapping[str, Any], coll: Collection, rows: str
    ) -> list[str]:
        """A keyed collection: a list of rows becomes a mapping by row key (empty: absent)."""
        _known(spec, {"type", "items", "minItems", "maxItems"})
        if spec.get("type") != "array" or not isinstance(spec.get("items"), dict):
            raise _Unsupported
        lines = ["if type(v) is not list:", "    return None"]
        if "minItems" in spec:
            lines += [f"if len(v) < {_int(spec['minItems'])}:", "    return None"]
        if "maxItems" in spec:
            lines += [f"if len(v) > {_int(spec['maxItems'])}:", "    return None"]
        lines += [
            "if v:",
            "    found = {}",
            "    for row in v:",
            f"        n = {rows}(row)",
            "        if n is None:",
            "            return None",
            *_indent(_row_key(coll.key), 2),
            "        if k in found:",
            "            return None",  # a duplicate row key: normalise names it
            "        found[k] = n",
            f"    out[{prop!r}] = found",
            "else:",
            f"    del out[{prop!r}]",
        ]
        return lines

    def value(self, prop: str, spec: Mapping[str, Any]) -> list[str]:
        """Checks of one scalar property's value ``v``; a float becomes an integer if integral."""
        _known(spec, _SCALAR_KEYWORDS)
        raw = spec.get("type")
        types = [raw] if isinstance(raw, str) else raw
        if not isinstance(types, list) or not types or not set(types) <= _SCALAR_TYPES:
            raise _Unsupported
        lines = self._enum(spec["enum"]) if "enum" in spec else []
        if "null" in types:
            types = [t for t in types if t != "null"]
            if not types:
                return [*lines, "if v is not None:", "    return None"]
            lines.append("if v is not None:")
            return lines + _indent(self._typed(prop, types, spec), 1)
        return lines + self._typed(prop, types, spec)

    def _typed(self, prop: str, types: list[str], spec: Mapping[str, Any]) -> list[str]:
        """Checks of a value of the one non-null type in ``types``."""
        if len(types) != 1:
            raise _Unsupported  # several types besides null: not in the shipped schemas
        if types[0] != "number":
            return [f"if {' or '.join(self._refuse(types[0], spec))}:", "    return None"]
        bounds = _bounds(spec)
        limits = [f"not ({' and '.join(bounds)})"] if bounds else []
        return [
            "t = type(v)",
            "if t is float:",
            *([f"    if {limits[0]}:", "        return None"] if limits else []),
            "    if v.is_integer() and LOW <= v < HIGH:",
            f"        out[{prop!r}] = int(v)",
            f"elif {' or '.join(['t is not int', *limits])}:",
            "    return None",
        ]

    def _refuse(self, json_type: str, spec: Mapping[str, Any]) -> list[str]:
        """Conditions on ``v`` that send it the slow way, the type test first."""
        if json_type == "string":
            return ["type(v) is not str", *self._string(spec)]
        if json_type == "boolean":
            return ["(v is not True and v is not False)"]
        if json_type == "integer":  # stricter than the validator: an integral float goes slow
            bounds = _bounds(spec)
            return ["type(v) is not int", *([f"not ({' and '.join(bounds)})"] if bounds else [])]
        raise _Unsupported

    def _string(self, spec: Mapping[str, Any]) -> list[str]:
        tests = []
        if "minLength" in spec:
            tests.append(f"len(v) < {_int(spec['minLength'])}")
        if "maxLength" in spec:
            tests.append(f"len(v) > {_int(spec['maxLength'])}")
        if "pattern" in spec:  # compiled as fastjsonschema compiles it
            pattern = re.compile(DOLLAR_FINDER.sub(r"\\Z", spec["pattern"]))
            tests.append(self._matches(pattern.search))
        if "format" in spec:
            fmt = spec["format"]  # deltahook's own where it has one, as the validator's
            regex = FORMATS.get(fmt) or CodeGeneratorDraft07.FORMAT_REGEXS.get(fmt)
            if regex is None:  # a format the validator does not check (or checks otherwise)
                raise _Unsupported
            tests.append(self._matches(re.compile(regex).match))
        return tests

    def _matches(self, test: Callable[[str], object]) -> str:
        """``v`` fails ``test`` (a compiled pattern's ``search`` or ``match``), asked once per
        text: most such fields repeat a few values (culture codes, dates). The texts that
        passed are kept, up to ``_KNOWN_TEXTS`` (an EAN code per record: memory stays bounded),
        with C calls only (a Python helper per new text cost more than the tests it saved)."""
        known, passes = self.constant(set()), self.constant(test)
        keep = f"len({known}) >= {_KNOWN_TEXTS} or {known}.add(v) or True"
        return f"(v not in {known} and not ({passes}(v) and ({keep})))"

    def _enum(self, values: Any) -> list[str]:
        """Exact members only: the validator's ``in`` also lets ``True`` stand for ``1``."""
        if not isinstance(values, list) or not all(
            v is None or type(v) in (str, int, float, bool) for v in values
        ):
            raise _Unsupported
        members = self.constant(frozenset((type(v), v) for v in values))
        kinds = self.constant(frozenset(type(v) for v in values))
        return [f"if type(v) not in {kinds} or (type(v), v) not in {members}:", "    return None"]


_KNOWN_TEXTS = 4096


def _bounds(spec: Mapping[str, Any]) -> list[str]:
    """Conditions a value within range meets; NaN meets none (the validator lets it by)."""
    tests = []
    for keyword, test in (
        ("minimum", "v >= {}"),
        ("maximum", "v <= {}"),
        ("exclusiveMinimum", "v > {}"),
        ("exclusiveMaximum", "v < {}"),
    ):
        if keyword in spec:
            limit = spec[keyword]
            if type(limit) not in (int, float):
                raise _Unsupported
            tests.append(test.format(repr(limit)))
    return tests


def _row_key(fields: tuple[str, ...]) -> list[str]:
    """``k = `` the key of a normalised row ``n``, as ``canonical.key_string`` makes it."""
    if len(fields) != 1:
        return [f"k = key_string([{', '.join(f'n.get({f!r})' for f in fields)}])"]
    return [  # the common case of key_string written out: one text without separators
        f"k = n.get({fields[0]!r})",
        "if type(k) is int:",
        "    k = str(k)",
        "elif type(k) is not str or '|' in k or '\\\\' in k:",
        "    k = key_string([k])",
    ]


def _known(spec: Mapping[str, Any], checked: set[str]) -> None:
    if not isinstance(spec, Mapping) or not set(spec) <= checked | _NOTES:
        raise _Unsupported


def _int(value: Any) -> int:
    if type(value) is not int:
        raise _Unsupported
    return value


def _indent(lines: list[str], levels: int) -> list[str]:
    pad = "    " * levels
    return [pad + line for line in lines]
