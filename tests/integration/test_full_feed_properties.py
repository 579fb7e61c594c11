"""Property: a full feed with any mix of good and rejected records, in any of the three
formats, never deactivates or deletes an entity whose record appeared in it, never sweeps when
a rejected record's key is unknown, and otherwise removes exactly what it left out."""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from deltahook.config import Settings
from deltahook.engine import Engine
from deltahook.store.tables import entities
from tests.conftest import REPO
from tests.full_feed_support import FORMATS, Entry, ingest, onhand

# What becomes of a stored row in the feed, and of a row the store does not have yet.
FATES = ("omitted", "good", "keyed", "unkeyed")
NEW_FATES = ("good", "keyed", "unkeyed")

# Rejected, key readable: {part} and {wh} are filled in.
KEYED_JSON = [{"OnhandValue": "x"}, {"WarehouseId": "one"}, {"Colour": "red"}]
KEYED_CSV = ["{part},{wh},1,A,1,x", "{part},{wh},one,A,1,5"]
# Rejected, key unknown.
UNKEYED = {
    "ndjson": [
        '{{"PartNo": "{part}", "WarehouseCode": ',  # truncated
        '{{"WarehouseCode": "{wh}", "WarehouseId": 1, "LocationCode": "A", "LocationId": 1}}',
        '{{"PartNo": 5, "WarehouseCode": "{wh}", "WarehouseId": 1, "LocationCode": "A", '
        '"LocationId": 1}}',  # a number where the key is a string
        "[1]",
    ],
    "json": [
        '{{"PartNo": null, "WarehouseCode": "{wh}", "WarehouseId": 1, "LocationCode": "A", '
        '"LocationId": 1}}',
        '{{"PartNo": {{"a": 1}}, "WarehouseCode": "{wh}", "WarehouseId": 1, '
        '"LocationCode": "A", "LocationId": 1}}',
        "7",
        '{{"PartNo": "{part}", ]',  # unreadable: the rest of the array is lost too
    ],
    "csv": [",{wh},1,A,1,5", "{part},{wh}"],
}
SCOPES = itertools.count()


@dataclass(frozen=True, kw_only=True)
class Case:
    fmt: str
    stored: list[str]
    fates: dict[str, str]  # by part, stored and new
    entries: list[Entry]

    def parts(self, fate: str) -> set[str]:
        return {part for part, f in self.fates.items() if f == fate}


@st.composite
def cases(draw: st.DrawFn) -> Case:
    fmt = draw(st.sampled_from(FORMATS))
    wh = f"W{next(SCOPES)}"
    stored = [f"P{i}" for i in range(draw(st.integers(1, 6)))]
    fates = {part: draw(st.sampled_from(FATES)) for part in stored}
    for i in range(draw(st.integers(0, 3))):
        fates[f"N{i}"] = draw(st.sampled_from(NEW_FATES))
    entries = [draw(entry(fmt, part, wh, f)) for part, f in fates.items() if f != "omitted"]
    entries = draw(st.permutations(entries))
    return Case(fmt=fmt, stored=[f"{p}|{wh}|A" for p in stored], fates=fates, entries=entries)


def entry(fmt: str, part: str, wh: str, fate: str) -> st.SearchStrategy[Entry]:
    if fate == "good":
        return st.just(onhand(part, wh, OnhandValue=7))
    if fate == "unkeyed":
        return st.sampled_from([t.format(part=part, wh=wh) for t in UNKEYED[fmt]])
    if fmt == "csv":
        return st.sampled_from([t.format(part=part, wh=wh) for t in KEYED_CSV])
    return st.sampled_from([orjson.dumps(onhand(part, wh) | bad).decode() for bad in KEYED_JSON])


GONE_KIND = "stock_gone"  # sku_onhand's shape, but missing rows are deleted


@pytest.fixture(params=["sku_onhand", GONE_KIND])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def engine(database_url: str, tmp_path: Path) -> Iterator[Engine]:
    schemas = tmp_path / "schemas"
    shutil.copytree(REPO / "schemas", schemas)
    schema = orjson.loads((schemas / "entities" / "sku_onhand.json").read_bytes())
    note = schema["x-deltahook"]
    note.update(kind=GONE_KIND, table="tStockGone", on_missing="delete")
    del note["parent"]
    (schemas / "entities" / f"{GONE_KIND}.json").write_bytes(orjson.dumps(schema))
    options = Settings(database_url=database_url, schemas_dir=schemas, batch_size=2)
    with Engine.from_settings(options) as engine:
        yield engine


def states(engine: Engine, kind: str, keys: list[str]) -> dict[str, Any]:
    """IsActive of each of ``keys`` that is stored ("gone" for those that are not)."""
    with engine.db.connect() as conn:
        query = select(entities.c.key, entities.c.body).where(entities.c.kind == kind)
        found = {key: orjson.loads(body).get("IsActive") for key, body in conn.execute(query)}
    return {key: found.get(key, "gone") for key in keys}


@settings(
    max_examples=50, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None
)
@given(case=cases())
def test_a_full_feed_never_removes_what_it_carried(engine: Engine, kind: str, case: Case) -> None:
    """Carried rows stay; an unknown rejected key stops the sweep; else what is left out goes."""
    stored = [onhand(key.split("|")[0], key.split("|")[1]) for key in case.stored]
    ingest(engine, stored, "ndjson", kind, mode="upsert")
    result = ingest(engine, case.entries, case.fmt, kind, max_remove="100%")
    after = states(engine, kind, case.stored)
    removed = False if kind == "sku_onhand" else "gone"
    by_part = {key.split("|")[0]: state for key, state in after.items()}
    for part in case.parts("good") | case.parts("keyed") | case.parts("unkeyed"):
        assert by_part.get(part) in (None, True)  # carried: never removed (None: not stored)
    if case.parts("unkeyed"):
        assert result.sweep == "skipped"
        assert set(after.values()) == {None}  # nothing swept
    elif case.parts("good"):
        assert result.sweep == "swept"
        assert {by_part[p] for p in case.parts("omitted")} <= {removed}
    else:
        assert {by_part[p] for p in case.parts("omitted")} <= {None}  # no scope was covered
