"""The shipped fixtures: v1 then v2 through the real pipeline gives exactly the known changes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deltahook.changes.model import EntityChange
from deltahook.cli.demo import DEMO_FEEDS
from deltahook.config import Settings
from deltahook.engine import Engine
from tests.conftest import REPO

FIXTURES = REPO / "fixtures"
Key = tuple[str, str, str, str, str, tuple[str, ...]]


def _key(
    kind: str, entity: dict[str, Any], table: str, row: dict[str, Any], op: str, fields: list[str]
) -> Key:
    def text(d: dict[str, Any]) -> str:
        return json.dumps({k: d[k] for k in sorted(d)}, sort_keys=True)

    return (kind, text(entity), table, text(row), op, tuple(sorted(fields)))


def _observed(engine: Engine, change: EntityChange) -> Iterator[Key]:
    kind = engine.catalog[change.kind]
    for row in change.rows:
        entity = {name: row.key[name] for name in kind.key}
        own = {k: v for k, v in row.key.items() if k not in entity}
        yield _key(change.kind, entity, row.table, own, row.op.value, sorted(row.changed()))


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    with Engine.from_settings(Settings(database_url=database_url, batch_size=50)) as engine:
        yield engine


def test_v2_after_v1_yields_exactly_the_expected_row_changes(engine: Engine) -> None:
    """Every expected change is found, and nothing else: noise (reorders, 5.0) stays silent."""
    for kind, name, _ in DEMO_FEEDS:
        assert engine.ingest(kind, FIXTURES / "v1" / name).counts.rejected == 0
    observed: list[Key] = []
    for kind, name, mode in DEMO_FEEDS:
        result = engine.ingest(kind, FIXTURES / "v2" / name, mode=mode, collect=True)
        assert result.counts.rejected == 0
        for change in result.changes:
            observed.extend(_observed(engine, change))
    expected = [
        _key(e["kind"], e["entity_key"], e["table"], e["row_key"], e["op"], e["fields"])
        for e in json.loads((FIXTURES / "v2" / "expected-changes.json").read_text())
    ]
    assert sorted(observed) == sorted(expected)


def test_csv_and_ndjson_stock_feeds_store_the_same_snapshots(engine: Engine) -> None:
    """The CSV copy of the stock feed is no change after its NDJSON twin."""
    engine.ingest("sku_onhand", FIXTURES / "v1" / "sku_onhand.ndjson")
    again = engine.ingest("sku_onhand", FIXTURES / "v1" / "sku_onhand.csv")
    assert again.counts.rejected == 0
    assert again.counts.unchanged == again.counts.received > 0


def test_every_fixture_file_is_a_demo_feed() -> None:
    """The demo ingests every fixture feed (the CSV twin aside), so none is forgotten."""
    shipped = {p.name for p in (FIXTURES / "v1").iterdir()} - {"sku_onhand.csv"}
    assert shipped == {name for _, name, _ in DEMO_FEEDS}


def test_json_array_fixture_is_read_with_its_lines(engine: Engine, tmp_path: Path) -> None:
    """A broken element in the pretty-printed customer array is reported on its own line."""
    text = (FIXTURES / "v1" / "customer.json").read_text()
    broken = tmp_path / "customer.json"
    second = text.index("\n  {", text.index("\n  {") + 1) + 3  # the second element
    broken.write_text(text[:second] + "{oops" + text[second + 1 :])
    result = engine.ingest("customer", broken)
    assert result.counts.inserted == 1
    (reject,) = result.rejects
    assert reject.line == text[:second].count("\n") + 1
