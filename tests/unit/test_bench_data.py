"""The benchmark's synthetic feeds: valid against the shipped schemas, realistic, repeatable."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import orjson
import pytest
from bench.data import FRACTIONS, KINDS, Feeds, write_feeds

from deltahook.catalog.entities import load_catalog
from deltahook.changes import canonical
from deltahook.feeds.validate import RecordValidator
from tests.conftest import REPO

CATALOG = load_catalog(REPO / "schemas" / "entities")
N = 300


@pytest.fixture(scope="module")
def feeds(tmp_path_factory: pytest.TempPathFactory) -> Feeds:
    return write_feeds(tmp_path_factory.mktemp("bench"), n=N, seed=7)


def records(path: Path) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def hashes(kind: str, path: Path) -> dict[str, bytes]:
    """Canonical hash of every entity of a feed, by key."""
    entity_kind = CATALOG[kind]
    out = {}
    for record in records(path):
        body = canonical.normalise(entity_kind, record)
        out[canonical.entity_key(entity_kind, body)] = canonical.digest(
            canonical.canonical_bytes(body)
        )
    return out


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("changed", [0.0, *FRACTIONS])
def test_every_record_validates_against_its_kind(feeds: Feeds, kind: str, changed: float) -> None:
    """Each version of each feed passes the validator the ingest uses, record by record."""
    validator = RecordValidator(CATALOG[kind])
    problems = [validator.problem(r) for r in records(feeds.path(kind, changed))]
    assert [p for p in problems if p is not None] == []


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("fraction", FRACTIONS)
def test_second_version_changes_exactly_the_fraction_asked(
    feeds: Feeds, kind: str, fraction: float
) -> None:
    """Whole blocks of 100 rows change by exactly the fraction, and every change is real."""
    before, after = hashes(kind, feeds.path(kind)), hashes(kind, feeds.path(kind, fraction))
    assert before.keys() == after.keys()
    changed = sum(before[key] != after[key] for key in before)
    per_block = round(fraction * 100)
    blocks, rest = divmod(len(before), 100)
    assert per_block * blocks <= changed <= per_block * blocks + min(rest, per_block)


def test_skus_are_about_a_kilobyte_with_cultures(feeds: Feeds) -> None:
    """SKUs average about 1 KB and carry the master culture plus translations."""
    lines = feeds.path("sku").read_bytes().splitlines()
    assert 900 <= sum(map(len, lines)) / len(lines) <= 1300
    assert all(orjson.loads(line)["Cultures"][0]["CultureCode"] == "sv-SE" for line in lines)


@pytest.mark.parametrize(("kind", "low", "high"), [("sku_price", 2, 4), ("sku_onhand", 2, 5)])
def test_child_rows_per_sku(feeds: Feeds, kind: str, low: int, high: int) -> None:
    """Every SKU has 2-4 price rows and 2-5 stock rows."""
    per_sku = Counter(r["PartNo"] for r in records(feeds.path(kind)))
    assert len(per_sku) == N
    assert low <= min(per_sku.values())
    assert max(per_sku.values()) <= high


def test_stock_changes_cross_the_reorder_point_both_ways(feeds: Feeds) -> None:
    """Some changed stock rows fall to or below MinimumValue, some climb back above it."""
    old, new = records(feeds.path("sku_onhand")), records(feeds.path("sku_onhand", 1.0))
    down = sum(
        a["OnhandValue"] > a["MinimumValue"] >= b["OnhandValue"]
        for a, b in zip(old, new, strict=True)
    )
    up = sum(
        a["OnhandValue"] <= a["MinimumValue"] < b["OnhandValue"]
        for a, b in zip(old, new, strict=True)
    )
    assert down > len(old) // 10
    assert up > 0


def test_the_same_seed_writes_the_same_bytes(tmp_path: Path) -> None:
    """Two runs with one seed give identical files; another seed gives other data."""
    first = write_feeds(tmp_path / "a", n=50, seed=3, kinds=["sku"])
    second = write_feeds(tmp_path / "b", n=50, seed=3, kinds=["sku"])
    other = write_feeds(tmp_path / "c", n=50, seed=4, kinds=["sku"])
    for changed in (0.0, *FRACTIONS):
        assert first.path("sku", changed).read_bytes() == second.path("sku", changed).read_bytes()
    assert first.path("sku").read_bytes() != other.path("sku").read_bytes()
