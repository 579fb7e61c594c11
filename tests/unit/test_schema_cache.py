"""The schema cache: a warm start gives what a cold one gives, and a bad cache changes nothing."""

from __future__ import annotations

import json
import marshal
import os
import shutil
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fastjsonschema
import pytest

from deltahook import diskcache
from deltahook.catalog import events as event_module
from deltahook.catalog import schema_cache
from deltahook.catalog.entities import load_catalog
from deltahook.catalog.events import EventCatalog, load_event_catalog
from deltahook.errors import CatalogError, RuleError
from deltahook.feeds.validate import RecordValidator
from deltahook.rules.loader import load_rules
from tests.conftest import REPO

SCHEMA = {
    "type": "object",
    "required": ["PartNo"],
    "properties": {
        "PartNo": {"type": "string", "pattern": "^P[0-9]+$"},
        "Qty": {"type": "integer", "minimum": 0, "default": 1},
        "Seen": {"type": "string", "format": "date-time"},
    },
    "additionalProperties": False,
}
PAYLOADS: list[Any] = [
    {"PartNo": "P1"},
    {"PartNo": "P1", "Qty": 3, "Seen": "2026-11-30T10:00:00Z"},
    {"PartNo": "X1"},
    {"PartNo": "P1", "Qty": -1},
    {"PartNo": "P1", "Seen": "yesterday"},
    {"Qty": 1},
    {"PartNo": "P1", "Other": 1},
    [],
]


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty cache folder of this test's own, and no event catalog kept in memory."""
    folder = tmp_path / "cache"
    monkeypatch.setenv(diskcache.ENV, str(folder))
    event_module._load_files.cache_clear()
    yield folder / "schemas"
    event_module._load_files.cache_clear()


def outcomes(validator: schema_cache.Validator) -> list[Any]:
    """What the validator makes of each payload: the filled-in payload, or the error."""
    found: list[Any] = []
    for payload in PAYLOADS:
        copy = json.loads(json.dumps(payload))
        try:
            found.append(("valid", validator(copy)))
        except fastjsonschema.JsonSchemaValueException as exc:
            found.append(("invalid", exc.message, exc.name, exc.rule))
    return found


def refuse_to_generate(monkeypatch: pytest.MonkeyPatch) -> None:
    """From here on, generating validator code or meta-checking a schema fails the test."""

    def generate(*args: Any, **kwargs: Any) -> str:
        raise AssertionError("validator code generated again")

    monkeypatch.setattr(fastjsonschema, "compile_to_code", generate)
    monkeypatch.setattr(fastjsonschema, "compile", generate)


def test_a_warm_start_validates_exactly_as_the_library_does(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cold and warm validators give fastjsonschema.compile's results, errors and defaults."""
    expected = outcomes(fastjsonschema.compile(json.loads(json.dumps(SCHEMA))))
    cold = outcomes(schema_cache.compile_validator(SCHEMA))
    assert len(list(cache.glob("*.code"))) == 1
    refuse_to_generate(monkeypatch)
    warm = outcomes(schema_cache.compile_validator(SCHEMA))
    assert cold == warm == expected


def test_use_default_is_part_of_what_is_kept(cache: Path) -> None:
    """The same schema compiled with and without defaults gives two validators, each right."""
    filled = schema_cache.compile_validator(SCHEMA)({"PartNo": "P1"})
    left = schema_cache.compile_validator(SCHEMA, use_default=False)({"PartNo": "P1"})
    assert (filled, left) == ({"PartNo": "P1", "Qty": 1}, {"PartNo": "P1"})
    assert len(list(cache.glob("*.code"))) == 2


def test_an_edited_schema_is_compiled_again(cache: Path) -> None:
    """A changed schema never meets the validator of its earlier content."""
    schema_cache.compile_validator(SCHEMA)
    edited = json.loads(json.dumps(SCHEMA))
    edited["properties"]["PartNo"]["pattern"] = "^X[0-9]+$"
    validator = schema_cache.compile_validator(edited)
    validator({"PartNo": "X1"})
    with pytest.raises(fastjsonschema.JsonSchemaValueException):
        validator({"PartNo": "P1"})
    assert len(list(cache.glob("*.code"))) == 2


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[: len(data) // 2],  # a write cut short
        lambda data: data[:-1] + bytes([data[-1] ^ 1]),  # one bit flipped
        lambda data: b"",  # an empty file
        lambda data: b"DHC1\n" + b"\0" * 16 + b"not marshal data",  # garbage with a header
    ],
)
def test_a_damaged_entry_is_ignored_and_written_again(cache: Path, damage: Any) -> None:
    """A corrupt entry gives the right validator, and is replaced by a good one."""
    expected = outcomes(schema_cache.compile_validator(SCHEMA))
    (entry,) = cache.glob("*.code")
    good = entry.read_bytes()
    entry.write_bytes(damage(good))
    assert outcomes(schema_cache.compile_validator(SCHEMA)) == expected
    assert entry.read_bytes() == good


def test_an_unwritable_cache_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cache folder that cannot be made (a file is in the way) is no error: work is redone."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file")
    monkeypatch.setenv(diskcache.ENV, str(blocker))
    expected = outcomes(fastjsonschema.compile(json.loads(json.dumps(SCHEMA))))
    assert outcomes(schema_cache.compile_validator(SCHEMA)) == expected
    path = schema_cache.voucher("draft7-schema", SCHEMA)
    schema_cache.vouch(path)
    assert not schema_cache.vouched(path)


def test_a_remote_ref_is_never_kept(cache: Path) -> None:
    """What a remote $ref points at may change, so such a schema is compiled every time."""
    schema = {"type": "object", "properties": {"X": {"$ref": "http://x.test/s.json"}}}

    def refuse(uri: str) -> Any:
        raise fastjsonschema.JsonSchemaDefinitionException(f"no {uri}")

    with pytest.raises(fastjsonschema.JsonSchemaDefinitionException, match=r"no http://x\.test"):
        schema_cache.compile_validator(schema, handlers={"http": refuse})
    assert not cache.exists() or not list(cache.iterdir())


def test_a_local_ref_is_rewritten_as_compiling_rewrites_it(cache: Path) -> None:
    """Compiling makes a schema's $ref absolute in place; a warm start leaves it the same."""
    schema = {
        "$id": "https://deltahook.test/s.json",
        "type": "object",
        "definitions": {"code": {"type": "string"}},
        "properties": {"Code": {"$ref": "#/definitions/code"}},
    }
    library = json.loads(json.dumps(schema))
    fastjsonschema.compile(library)
    cold, warm = json.loads(json.dumps(schema)), json.loads(json.dumps(schema))
    schema_cache.compile_validator(cold)
    validator = schema_cache.compile_validator(warm)
    assert cold == warm == library
    with pytest.raises(fastjsonschema.JsonSchemaValueException):
        validator({"Code": 1})


@pytest.mark.parametrize(
    "value",
    [
        float("nan"),  # writes as null in orjson; NaN is a number to jsonschema
        (1, 2),  # a tuple is not a JSON array to jsonschema
        {1: "a"},  # a key that is not a string
        True,  # kept, but never as the integer 1
    ],
)
def test_only_plain_json_values_are_vouched_for(cache: Path, value: Any) -> None:
    """A value that could be written like another one gets no entry of its own."""
    path = schema_cache.voucher("draft7-accepts", {"type": "integer"}, value)
    one = schema_cache.voucher("draft7-accepts", {"type": "integer"}, 1)
    assert path is None or value is True
    assert path != one


def event_outcomes(catalog: EventCatalog) -> dict[str, list[Any]]:
    """Each type's verdicts and messages on its examples and on a few wrong payloads."""
    wrong: list[Any] = [{}, {"ClientId": "1"}, {"ClientId": 1, "Unknown": True}, []]
    return {t.name: [t.errors(p) for p in [*t.schema.get("examples", []), *wrong]] for t in catalog}


def test_the_event_catalog_warm_is_the_catalog_cold(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The shipped event types validate alike whether their validators were kept or not."""
    folder = REPO / "schemas" / "events"
    cold = event_outcomes(load_event_catalog(folder))
    event_module._load_files.cache_clear()
    refuse_to_generate(monkeypatch)
    monkeypatch.setattr(event_module, "_check_meta_schema", _meta_check_refused)
    warm = event_outcomes(load_event_catalog(folder))
    assert warm == cold


def _meta_check_refused(path: Path, schema: Any) -> None:
    if not schema_cache.vouched(schema_cache.voucher("draft7-schema", schema)):
        raise AssertionError(f"{path} meta-checked again")


def test_a_bad_event_schema_gives_the_same_error_every_time(tmp_path: Path, cache: Path) -> None:
    """A failed meta-check is never kept: the second load says exactly what the first said."""
    good = json.loads((REPO / "schemas" / "events" / "TestEvent.json").read_text())
    folder = tmp_path / "events"
    folder.mkdir()
    (folder / "TestEvent.json").write_text(json.dumps({**good, "required": "ClientId"}))
    messages = []
    for _ in range(2):
        event_module._load_files.cache_clear()
        with pytest.raises(CatalogError) as caught:
            load_event_catalog(folder)
        messages.append(str(caught.value))
    assert messages[0] == messages[1]
    assert "not a valid schema at required" in messages[0]


def test_a_bad_entity_schema_gives_the_same_error_every_time(tmp_path: Path, cache: Path) -> None:
    """The entity catalog's meta-check of a broken schema runs, and fails alike, every load."""
    folder = tmp_path / "entities"
    shutil.copytree(REPO / "schemas" / "entities", folder)
    load_catalog(folder)
    sku = json.loads((folder / "sku.json").read_text())
    sku["properties"]["PartNo"]["type"] = "text"
    (folder / "sku.json").write_text(json.dumps(sku))
    messages = []
    for _ in range(2):
        with pytest.raises(CatalogError, match="invalid JSON Schema") as caught:
            load_catalog(folder)
        messages.append(str(caught.value))
    assert messages[0] == messages[1]


def test_record_validators_reject_alike_cold_and_warm(cache: Path) -> None:
    """A kind's record validator names the same field and reason on a warm start."""
    kind = load_catalog(REPO / "schemas" / "entities")["sku_onhand"]
    good = {"PartNo": "P1", "WarehouseCode": "STO", "WarehouseId": 3, "LocationCode": "A-12"}
    good |= {"LocationId": 7, "OnhandValue": 5, "MinimumValue": 3}
    records: list[dict[str, Any]] = [
        good,
        good | {"WarehouseId": "one"},
        {k: v for k, v in good.items() if k != "PartNo"},
        good | {"OnhandValue": "5"},
    ]
    runs = []
    for _ in range(2):
        full, partial = RecordValidator(kind), RecordValidator(kind, partial=True)
        runs.append([(full.problem(dict(r)), partial.problem(dict(r))) for r in records])
    assert runs[0] == runs[1]
    assert runs[0][0] == (None, None)
    wrong_type = runs[0][1][0]
    assert wrong_type is not None
    assert wrong_type.field == "WarehouseId"


RULE = """\
format_version: 1
rules:
  - notification: SkuChangedNotification
    payload: {PartNo: row.PartNo, EntityChanged: setting.table}
    settings:
      - id: s
        table: tSupplierProductSku
        on: [insert]
"""


def test_a_rule_constant_refused_is_refused_alike_every_time(tmp_path: Path, cache: Path) -> None:
    """A payload value its schema refuses is reported at the same file:line:column each load,
    and one it accepts loads on a warm start too."""
    entities = load_catalog(REPO / "schemas" / "entities")
    events = load_event_catalog(REPO / "schemas" / "events")
    (tmp_path / "rules.yaml").write_text(textwrap.dedent(RULE))
    problems = []
    for _ in range(2):
        with pytest.raises(RuleError) as caught:
            load_rules(tmp_path, catalog=entities, events=events, constants={"ClientId": 1})
        problems.append([str(p) for p in caught.value.problems])
    assert problems[0] == problems[1]
    assert "rules.yaml:4:" in problems[0][0]
    assert "'tSupplierProductSku' is not accepted" in problems[0][0]
    shipped = REPO / "rules"
    for _ in range(2):
        assert load_rules(shipped, catalog=entities, events=events, constants={"ClientId": 1})


def test_a_format_package_installed_later_voids_what_was_vouched(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A check jsonschema passed without one of its format packages is made again with it."""
    schema_cache._jsonschema_version.cache_clear()
    path = schema_cache.voucher("draft7-schema", SCHEMA)
    schema_cache.vouch(path)
    assert schema_cache.vouched(path)
    monkeypatch.setattr(schema_cache, "_FORMAT_PACKAGES", ("json",))  # now "installed"
    schema_cache._jsonschema_version.cache_clear()
    try:
        assert not schema_cache.vouched(schema_cache.voucher("draft7-schema", SCHEMA))
    finally:
        schema_cache._jsonschema_version.cache_clear()


@pytest.mark.parametrize("bits", [0o020, 0o002])
def test_code_in_a_folder_others_can_write_is_never_run(
    cache: Path, tmp_path: Path, bits: int
) -> None:
    """A kept validator is run only from a folder nobody else can write: one planted in a
    group- or world-writable folder is not run, and validation is the library's own."""
    expected = outcomes(schema_cache.compile_validator(SCHEMA))
    (entry,) = cache.glob("*.code")
    ran = tmp_path / "ran"
    planted = compile(f"import os\nos.mkdir({str(ran)!r})\n", "<planted>", "exec")
    diskcache.write(entry, marshal.dumps(("validate", planted)))
    os.chmod(cache, 0o700 | bits)
    assert outcomes(schema_cache.compile_validator(SCHEMA)) == expected
    assert not ran.exists()
    os.chmod(cache, 0o700)
    schema_cache.compile_validator(SCHEMA)  # the control: from a private folder it does run
    assert ran.exists()
