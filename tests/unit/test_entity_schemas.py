"""The entity-kind schemas in schemas/entities/ are well formed, and the sample feeds fit them."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator

ROOT = Path(__file__).parents[2]
SCHEMA_DIR = ROOT / "schemas" / "entities"
FIXTURES = ROOT / "fixtures"
DRAFT_07 = "http://json-schema.org/draft-07/schema#"
ANNOTATION_KEYS = {
    "kind",
    "table",
    "key",
    "parent",
    "scope",
    "on_missing",
    "not_sent_when_empty",
    "collections",
    "references",
}
FEEDS = {
    "sku": "sku.ndjson",
    "sku_price": "sku_price.ndjson",
    "sku_onhand": "sku_onhand.ndjson",
    "customer": "customer.json",
    "company": "company.ndjson",
    "supplier_sku": "supplier_sku.ndjson",
    "supplier_sku_price": "supplier_sku_price.ndjson",
    "supplier_sku_onhand": "supplier_sku_onhand.ndjson",
    "manufacturer": "manufacturer.ndjson",
    "category": "category.ndjson",
    "price_list": "price_list.ndjson",
    "account": "account.ndjson",
}
FEED_FILES = [
    (version, kind, name)
    for version in ("v1", "v2")
    for kind, name in [*FEEDS.items(), ("sku_onhand", "sku_onhand.csv")]
]
SCHEMA_PATHS = sorted(SCHEMA_DIR.glob("*.json"))

Schema = dict[str, Any]


def load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def schemas() -> dict[str, Schema]:
    return {path.stem: load(path) for path in SCHEMA_PATHS}


def note(schema: Schema) -> dict[str, Any]:
    annotation: dict[str, Any] = schema["x-deltahook"]
    return annotation


def types_of(spec: Schema) -> list[str]:
    kind = spec.get("type", [])
    return [kind] if isinstance(kind, str) else list(kind)


def records(path: Path, schema: Schema) -> Iterator[tuple[int, Any]]:
    """(line or position, record) for an NDJSON, JSON-array or CSV feed."""
    if path.suffix == ".ndjson":
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                yield number, json.loads(line)
    elif path.suffix == ".json":
        yield from enumerate(load(path), start=1)
    else:
        properties = schema["properties"]
        with path.open(encoding="utf-8", newline="") as handle:
            for number, row in enumerate(csv.DictReader(handle), start=2):
                yield (
                    number,
                    {
                        name: csv_value(text, types_of(properties[name]))
                        for name, text in row.items()
                        if text != ""  # an empty cell is an absent field
                    },
                )


def csv_value(text: str, types: list[str]) -> Any:
    """A CSV cell converted by its property's JSON type."""
    if "boolean" in types:
        return {"true": True, "false": False}.get(text, text)
    if "integer" in types:
        return int(text)
    if "number" in types:
        return float(text)
    return text


@pytest.fixture(scope="module")
def catalog() -> dict[str, Schema]:
    return schemas()


def test_every_shipped_kind_has_a_schema() -> None:
    """Each of the eight shipped entity kinds has a schema file named after it."""
    assert set(FEEDS) <= {path.stem for path in SCHEMA_PATHS}


@pytest.mark.parametrize("path", SCHEMA_PATHS, ids=lambda p: p.stem)
def test_schema_is_valid_draft_07(path: Path) -> None:
    """Each entity schema declares draft-07 and is a valid draft-07 schema."""
    schema = load(path)
    assert schema["$schema"] == DRAFT_07
    Draft7Validator.check_schema(schema)


@pytest.mark.parametrize("path", SCHEMA_PATHS, ids=lambda p: p.stem)
def test_schema_is_a_closed_documented_object(path: Path) -> None:
    """Root and collection items are closed objects, and every property says what it is."""
    schema = load(path)
    assert schema["type"] == "object"
    assert schema["additionalProperties"] is False
    assert schema["title"]
    assert schema["description"]
    for name, spec in schema["properties"].items():
        assert spec.get("description"), f"{name} has no description"
        if "array" in types_of(spec):
            items = spec["items"]
            assert items["type"] == "object"
            assert items["additionalProperties"] is False, f"{name} items are open"
            for item_name, item_spec in items["properties"].items():
                assert item_spec.get("description"), f"{name}.{item_name} has no description"


@pytest.mark.parametrize("path", SCHEMA_PATHS, ids=lambda p: p.stem)
def test_annotation_names_its_kind_table_and_required_key(path: Path) -> None:
    """x-deltahook has only known keys, its kind is the file name, its key fields are required."""
    schema = load(path)
    annotation = note(schema)
    assert set(annotation) <= ANNOTATION_KEYS
    assert annotation["kind"] == path.stem
    assert isinstance(annotation["table"], str)
    assert annotation["table"].startswith("t")
    key = annotation["key"]
    assert key
    assert len(set(key)) == len(key)
    for name in key:
        assert name in schema["properties"], f"key field {name} is not a property"
        assert name in schema["required"], f"key field {name} is not required"


@pytest.mark.parametrize("path", SCHEMA_PATHS, ids=lambda p: p.stem)
def test_scope_and_not_sent_when_empty_name_root_properties(path: Path) -> None:
    """scope and not_sent_when_empty, when present, are non-empty lists of root properties."""
    schema = load(path)
    for option in ("scope", "not_sent_when_empty"):
        if option in note(schema):
            fields = note(schema)[option]
            assert fields
            assert isinstance(fields, list)
            assert all(name in schema["properties"] for name in fields), option
    for name in note(schema).get("not_sent_when_empty", []):
        assert "null" in types_of(schema["properties"][name]), f"{name} cannot hold null"


@pytest.mark.parametrize("path", SCHEMA_PATHS, ids=lambda p: p.stem)
def test_on_missing_is_delete_or_a_valid_deactivation(path: Path) -> None:
    """on_missing is "delete" or deactivates existing fields with values their schema accepts."""
    schema = load(path)
    on_missing = note(schema).get("on_missing", "delete")
    if on_missing == "delete":
        return
    assert set(on_missing) == {"deactivate"}
    assert on_missing["deactivate"]
    for name, value in on_missing["deactivate"].items():
        assert name in schema["properties"]
        Draft7Validator(schema["properties"][name]).validate(value)


@pytest.mark.parametrize("path", SCHEMA_PATHS, ids=lambda p: p.stem)
def test_collections_are_arrays_of_objects_that_require_their_key(path: Path) -> None:
    """Each keyed collection is an array property whose items require and define its key."""
    schema = load(path)
    for name, spec in note(schema).get("collections", {}).items():
        assert set(spec) == {"table", "key"}
        assert spec["table"].startswith("t")
        prop = schema["properties"][name]
        assert prop["type"] == "array"
        items = prop["items"]
        assert items["type"] == "object"
        assert spec["key"]
        for field in spec["key"]:
            assert field in items["properties"], f"{name}: key {field} is not an item property"
            assert field in items["required"], f"{name}: key {field} is not required"
    arrays = {n for n, s in schema["properties"].items() if "array" in types_of(s)}
    assert arrays == set(note(schema).get("collections", {})), "every array is a keyed collection"


@pytest.mark.parametrize("path", SCHEMA_PATHS, ids=lambda p: p.stem)
def test_parent_is_an_existing_kind_whose_key_the_fields_match(
    path: Path, catalog: dict[str, Schema]
) -> None:
    """A parent names an existing kind, with one field per parent key field, of the same type."""
    schema = load(path)
    parent = note(schema).get("parent")
    if parent is None:
        return
    assert set(parent) == {"kind", "fields"}
    assert parent["kind"] in catalog
    parent_schema = catalog[parent["kind"]]
    parent_key = note(parent_schema)["key"]
    assert len(parent["fields"]) == len(parent_key)
    for field, parent_field in zip(parent["fields"], parent_key, strict=True):
        assert field in schema["properties"]
        own = types_of(schema["properties"][field])
        assert own == types_of(parent_schema["properties"][parent_field]), field


@pytest.mark.parametrize(
    ("version", "kind", "name"), FEED_FILES, ids=[f"{v}/{n}" for v, _, n in FEED_FILES]
)
def test_fixture_records_validate_against_their_kind(
    version: str, kind: str, name: str, catalog: dict[str, Schema]
) -> None:
    """Every record of every sample feed, v1 and v2, is valid for its kind's schema."""
    schema = catalog[kind]
    validator = Draft7Validator(schema, format_checker=Draft7Validator.FORMAT_CHECKER)
    seen = 0
    for line, record in records(FIXTURES / version / name, schema):
        errors = [
            f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(record)
        ]
        assert not errors, f"{version}/{name}:{line}: {errors}"
        seen += 1
    assert seen > 0


def test_expected_changes_name_real_kinds_tables_keys_and_fields(
    catalog: dict[str, Schema],
) -> None:
    """Each expected change names a kind, its key, one of its tables, that table's key, fields."""
    expected = load(FIXTURES / "v2" / "expected-changes.json")
    assert expected
    for change in expected:
        assert set(change) == {"kind", "entity_key", "table", "row_key", "op", "fields"}
        schema = catalog[change["kind"]]
        annotation = note(schema)
        assert list(change["entity_key"]) == annotation["key"]
        colls = annotation.get("collections", {})
        if change["row_key"] == {}:
            assert change["table"] == annotation["table"]
            allowed = set(schema["properties"]) - set(colls)
        else:
            name = next(n for n, c in colls.items() if c["table"] == change["table"])
            assert list(change["row_key"]) == colls[name]["key"]
            allowed = set(schema["properties"][name]["items"]["properties"])
        assert change["op"] in {"insert", "update", "delete"}
        assert change["fields"]
        assert change["fields"] == sorted(change["fields"])
        assert set(change["fields"]) <= allowed, change


def test_expected_changes_are_sorted() -> None:
    """The expected changes are sorted by kind, entity key, table and row key."""
    expected = load(FIXTURES / "v2" / "expected-changes.json")

    def order(change: dict[str, Any]) -> tuple[Any, ...]:
        return (
            change["kind"],
            list(change["entity_key"].values()),
            change["table"],
            list(change["row_key"].values()),
        )

    assert expected == sorted(expected, key=order)


def test_expected_changes_agree_with_an_independent_diff_of_the_feeds() -> None:
    """Diffing v1 and v2 from scratch yields exactly the expected changes (and CSV = NDJSON)."""
    result = subprocess.run(
        [sys.executable, str(FIXTURES / "check_expected.py")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_generator_reproduces_the_committed_fixtures(tmp_path: Path) -> None:
    """Running fixtures/generate.py again writes byte-identical feeds, changes and README."""
    subprocess.run(
        [sys.executable, str(FIXTURES / "generate.py"), "--out", str(tmp_path)],
        capture_output=True,
        check=True,
    )
    written = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert written
    for relative in written:
        assert (tmp_path / relative).read_bytes() == (FIXTURES / relative).read_bytes(), relative
