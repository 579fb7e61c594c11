"""The record fast path agrees with the validator and the normaliser, or stands aside."""

from __future__ import annotations

import copy
import dataclasses
import functools
import string
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import fastjsonschema
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from deltahook.catalog.entities import Catalog, EntityKind, load_catalog
from deltahook.changes import canonical
from deltahook.feeds import shapes
from deltahook.feeds.shapes import compile_shape
from tests.conftest import REPO

CATALOG = load_catalog(REPO / "schemas" / "entities")
KINDS = sorted(kind.name for kind in CATALOG)


def _ordered(value: Any) -> Any:
    """``value`` with every mapping as a list of its items, so that key order counts."""
    if isinstance(value, dict):
        return [(k, _ordered(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [_ordered(v) for v in value]
    return (type(value).__name__, value)


def _fixture_records(kind: str) -> list[dict[str, Any]]:
    found = []
    for version in ("v1", "v2"):
        path = REPO / "fixtures" / version / f"{kind}.ndjson"
        if path.exists():
            found += [orjson.loads(line) for line in path.read_bytes().splitlines() if line]
        elif (array := path.with_suffix(".json")).exists():
            found += orjson.loads(array.read_bytes())
    return found


@functools.cache
def _validator(name: str) -> Callable[[Any], Any]:
    return fastjsonschema.compile(dict(CATALOG[name].schema))


def _agrees(kind: EntityKind, record: Any) -> bool:
    """Assert that a body from the fast path is exactly what the slow path makes; True if any."""
    shape = compile_shape(kind)
    assert shape is not None
    before = copy.deepcopy(record)
    body = shape(record)
    assert _ordered(record) == _ordered(before), "the fast path changed its input"
    if body is None:
        return False
    _validator(kind.name)(copy.deepcopy(record))  # raises if the record is invalid
    assert _ordered(body) == _ordered(canonical.normalise(kind, record))
    return True


@pytest.mark.parametrize("name", KINDS)
def test_every_shipped_kind_has_a_fast_path(name: str) -> None:
    """Every shipped schema uses only what the fast path checks, so each kind gets one."""
    assert compile_shape(CATALOG[name]) is not None


@pytest.mark.parametrize("name", KINDS)
def test_valid_fixture_records_take_the_fast_path_and_get_the_normalised_body(name: str) -> None:
    """Each record of the fixture feeds is admitted by the fast path, with normalise's body."""
    records = _fixture_records(name)
    assert records
    assert all(_agrees(CATALOG[name], record) for record in records)


def test_the_bench_feeds_take_the_fast_path(tmp_path: Path) -> None:
    """The benchmark's SKU, price and stock records all go the fast way, body for body."""
    from bench.data import KINDS as BENCH_KINDS
    from bench.data import write_feeds

    feeds = write_feeds(tmp_path, n=60, seed=3)
    for name in BENCH_KINDS:
        for line in feeds.path(name).read_bytes().splitlines():
            assert _agrees(CATALOG[name], orjson.loads(line))


# Values a feed may put anywhere: the right type, the wrong one, edge cases of each.
_ANY = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.integers(2**31 - 2, 2**31 + 1),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(-3, 200).map(float),
    st.text(string.printable, max_size=12),
    st.sampled_from(["", "sv-SE", "SV-se", "12345678", "7300000000004", "2024-02-29"]),
    st.sampled_from(["2023-02-29", "a|b", "a\\b", "x@y.se", "@y.se", "SE", "EUR"]),
    st.just([]),
    st.just({}),
)


def _fitting(spec: Mapping[str, Any]) -> st.SearchStrategy[Any]:
    """Values of one of the types ``spec`` names, within its bounds, lengths and patterns."""
    if "enum" in spec:
        return st.sampled_from(spec["enum"])
    types = spec.get("type", [])
    choices = [
        _typed(json_type, spec) for json_type in ([types] if isinstance(types, str) else types)
    ]
    return st.one_of(choices) if choices else _ANY


def _typed(json_type: str, spec: Mapping[str, Any]) -> st.SearchStrategy[Any]:
    low = spec.get("minimum", spec.get("exclusiveMinimum", -(10**6)))
    high = spec.get("maximum", spec.get("exclusiveMaximum", 10**6))
    if json_type == "integer":
        return st.integers(low + ("exclusiveMinimum" in spec), high - ("exclusiveMaximum" in spec))
    if json_type == "number":
        return st.one_of(
            st.integers(low + 1, high - 1),
            st.integers(low + 1, high - 1).map(float),
            st.floats(low, high, exclude_min=True, exclude_max=True),
        )
    if json_type == "string":
        return _text(spec)
    return st.booleans() if json_type == "boolean" else st.none()


def _text(spec: Mapping[str, Any]) -> st.SearchStrategy[str]:
    if "pattern" in spec:
        return st.from_regex(spec["pattern"].rstrip("$") + r"\Z")
    if spec.get("format") == "date":
        return st.dates().map(lambda day: day.isoformat())
    if "format" in spec:  # email, the one other format the schemas use
        return st.sampled_from(["a@b.se", "first.last@example.com"])
    return st.text(string.ascii_letters + "åäö |\\-", min_size=spec.get("minLength", 0))


def _values_for(spec: Mapping[str, Any], wild: int) -> st.SearchStrategy[Any]:
    """A fitting value, or one ``wild`` times in ten one near the edges or of any type."""
    near: list[Any] = list(spec.get("enum", []))
    for keyword in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        if keyword in spec:
            limit = spec[keyword]
            near += [limit, limit - 1, limit + 1, float(limit), limit + 0.5]
    if spec.get("format") == "date":
        near += ["2024-02-29", "2021-13-01", "2021-09-18"]
    odd = st.sampled_from(near) | _ANY if near else _ANY
    return st.integers(0, 9).flatmap(lambda roll: odd if roll < wild else _fitting(spec))


@st.composite
def _object(
    draw: st.DrawFn,
    schema: Mapping[str, Any],
    collections: Mapping[str, Any],
    wild: int,
    depth: int = 0,
) -> dict[str, Any]:
    properties: Mapping[str, Any] = schema.get("properties", {})
    names = draw(st.lists(st.sampled_from(sorted(properties)), unique=True, max_size=12))
    required = [n for n in schema.get("required", []) if not wild or draw(st.integers(0, 9))]
    out: dict[str, Any] = {}
    for name in draw(st.permutations(sorted({*names, *required}))):
        coll = collections.get(name)
        spec = properties[name]
        if coll is not None and depth < 2 and draw(st.integers(0, 5)):
            rows = _object(spec["items"], coll.collections, wild, depth + 1)
            out[name] = draw(st.lists(rows, max_size=4))
        else:
            out[name] = draw(_values_for(spec, wild))
    if wild and not draw(st.integers(0, 20)):
        out[draw(st.sampled_from(["Unknown", "partno", "__proto__"]))] = draw(_ANY)
    return out


@st.composite
def _kind_and_record(draw: st.DrawFn) -> tuple[EntityKind, Any]:
    kind = CATALOG[draw(st.sampled_from(KINDS))]
    if not draw(st.integers(0, 30)):
        return kind, draw(_ANY)  # not even an object
    wild = draw(st.sampled_from([0, 0, 1, 3]))  # how often a value is odd, in tenths
    return kind, draw(_object(kind.schema, kind.collections, wild))


@given(_kind_and_record())
def test_a_body_from_the_fast_path_is_one_the_validator_accepts_and_normalise_makes(
    case: tuple[EntityKind, Any],
) -> None:
    """On generated records of every kind, right and wrong: when the fast path answers, the
    record is valid for fastjsonschema and the body is normalise's, key order included; it
    never changes the record it reads."""
    kind, record = case
    _agrees(kind, record)


def test_the_fast_path_stands_aside_for_what_the_validator_judges() -> None:
    """Records the validator rejects, or that need its judgement, go the slow way."""
    kind = CATALOG["sku"]
    shape = compile_shape(kind)
    assert shape is not None
    good = {"PartNo": "A", "StatusId": 1, "Cultures": [{"CultureCode": "sv-SE"}]}
    assert shape(good) == {"PartNo": "A", "StatusId": 1, "Cultures": {"sv-SE": good["Cultures"][0]}}
    for bad in (
        {"StatusId": 1},  # the key is missing
        {**good, "StatusId": True},  # a boolean is no integer
        {**good, "StatusId": 1.0},  # an integral float: valid, but left to the validator
        {**good, "StatusId": 7},  # beyond its maximum
        {**good, "Unknown": 1},  # not a property of the kind
        {**good, "EanCode": "123"},  # does not match its pattern
        {**good, "StartDate": "2023-02-29"},  # not a date
        {**good, "Cultures": [{"CultureCode": "sv-SE"}, {"CultureCode": "sv-SE"}]},  # twice
        {**good, "Cultures": {"sv-SE": {}}},  # not a list
    ):
        assert shape(bad) is None


def test_a_text_that_matched_its_pattern_once_is_known_and_the_known_ones_are_bounded() -> None:
    """Texts are judged by their pattern once (a culture code repeats on every SKU); a text
    that failed is judged again each time, and no more than a bounded number are kept."""
    shape = compile_shape(CATALOG["sku"])
    assert shape is not None
    for _ in range(2):
        assert shape({"PartNo": "A", "EanCode": "12345678"}) is not None
        assert shape({"PartNo": "A", "EanCode": "1234567"}) is None  # seven digits: too short
    for n in range(5000):  # an EAN code per record: the memo stops growing
        assert shape({"PartNo": "A", "EanCode": f"{n:08d}"}) is not None
    memos = [c for c in shape.__globals__.values() if type(c) is set]
    assert memos
    assert all(len(memo) <= shapes._KNOWN_TEXTS for memo in memos)
    assert all("1234567" not in memo for memo in memos)


def test_integral_floats_of_numbers_become_integers_and_empty_collections_vanish() -> None:
    """As ``normalise`` does: ``25.0`` is stored as ``25``, an empty keyed list as nothing."""
    shape = compile_shape(CATALOG["sku"])
    assert shape is not None
    body = shape({"PartNo": "A", "VatRate": 25.0, "Weight": 0.5, "Cultures": []})
    assert body == {"PartNo": "A", "VatRate": 25, "Weight": 0.5}
    assert type(body["VatRate"]) is int


@pytest.mark.parametrize(
    "extra",
    [
        {"default": 1},  # fastjsonschema writes defaults into the record
        {"oneOf": [{"type": "integer"}, {"type": "string"}]},  # not checked by the fast path
        {"format": "uuid"},  # a format fastjsonschema does not know: it checks nothing
    ],
)
def test_a_schema_with_a_keyword_the_fast_path_does_not_check_gets_none(
    extra: dict[str, Any],
) -> None:
    """One unknown keyword anywhere and the kind has no fast path: every record goes slow."""
    kind = CATALOG["sku"]
    schema = copy.deepcopy(dict(kind.schema))
    schema["properties"]["Cultures"]["items"]["properties"]["Name"] = {"type": "string", **extra}
    assert compile_shape(dataclasses.replace(kind, schema=schema)) is None


def test_shapes_are_made_once_per_schema(catalog: Catalog) -> None:
    """Two engines over the same schema share one compiled fast path."""
    assert compile_shape(catalog["sku"]) is compile_shape(CATALOG["sku"])
