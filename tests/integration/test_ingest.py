"""Ingesting feeds into a real store, on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import xxhash
from sqlalchemy import select

from deltahook.changes.model import Op
from deltahook.config import Settings
from deltahook.engine import Engine
from deltahook.results import Mode, RunResult
from deltahook.store.tables import entities, ingest_jobs, job_rejects
from tests.conftest import REPO


def onhand(part: str, wh: str = "W1", loc: str = "A", **fields: Any) -> dict[str, Any]:
    return {
        "PartNo": part,
        "WarehouseCode": wh,
        "WarehouseId": 1,
        "LocationCode": loc,
        "LocationId": 1,
        "IsActive": True,
        **fields,
    }


def sku(part: str, **fields: Any) -> dict[str, Any]:
    return {"PartNo": part, "StatusId": 1, **fields}


def ndjson(records: Iterable[dict[str, Any] | str]) -> io.BytesIO:
    lines = [r if isinstance(r, str) else orjson.dumps(r).decode() for r in records]
    return io.BytesIO(("\n".join(lines) + "\n").encode())


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    with Engine.from_settings(Settings(database_url=database_url, batch_size=3)) as engine:
        yield engine


def ingest(
    engine: Engine,
    kind: str,
    records: Iterable[dict[str, Any] | str],
    mode: Mode = "upsert",
    **options: Any,
) -> RunResult:
    return engine.ingest(kind, ndjson(records), fmt="ndjson", mode=mode, collect=True, **options)


def stored(engine: Engine, kind: str) -> dict[str, tuple[dict[str, Any], int]]:
    with engine.db.connect() as conn:
        rows = conn.execute(
            select(entities.c.key, entities.c.body, entities.c.version).where(
                entities.c.kind == kind
            )
        )
        return {key: (orjson.loads(body), version) for key, body, version in rows}


def test_same_feed_twice_is_unchanged_and_writes_nothing(engine: Engine) -> None:
    """The second run reports every entity unchanged and leaves every snapshot as it was."""
    feed = [onhand(f"P{i}", OnhandValue=i) for i in range(7)]
    first = ingest(engine, "sku_onhand", feed)
    assert (first.counts.inserted, first.counts.unchanged) == (7, 0)
    before = stored(engine, "sku_onhand")
    second = ingest(engine, "sku_onhand", feed)
    assert second.counts.unchanged == 7
    assert second.counts.inserted + second.counts.updated + second.counts.deleted == 0
    assert second.changes == []
    assert stored(engine, "sku_onhand") == before


def test_reordered_rows_keys_and_integral_floats_are_no_change(engine: Engine) -> None:
    """Reordered keyed lists, reordered keys and 5 written as 5.0 change nothing."""
    cultures = [{"CultureCode": "sv-SE", "Name": "Stol"}, {"CultureCode": "en-GB", "Name": "Chair"}]
    ingest(engine, "sku", [sku("P1", Weight=5, Cultures=cultures)])
    again = {"Cultures": cultures[::-1], "Weight": 5.0, "StatusId": 1, "PartNo": "P1"}
    result = ingest(engine, "sku", [again])
    assert result.counts.unchanged == 1
    assert result.changes == []


def test_changed_culture_is_one_row_change(engine: Engine) -> None:
    """Changing one culture's name is an update of that culture row only."""
    ingest(engine, "sku", [sku("P1", Cultures=[{"CultureCode": "sv-SE", "Name": "Stol"}])])
    result = ingest(engine, "sku", [sku("P1", Cultures=[{"CultureCode": "sv-SE", "Name": "Pall"}])])
    (change,) = result.changes
    (row,) = change.rows
    assert (row.table, row.op, dict(row.key)) == (
        "tClientProductSkuCulture",
        Op.UPDATE,
        {"PartNo": "P1", "CultureCode": "sv-SE"},
    )
    assert [(f.field, f.old, f.new) for f in row.fields] == [("Name", "Stol", "Pall")]
    assert stored(engine, "sku")["P1"][1] == 2  # the version moved on once


def test_merge_never_clears_an_absent_field(engine: Engine) -> None:
    """A merge record changes what it sends and keeps everything it leaves out."""
    ingest(engine, "sku_onhand", [onhand("P1", OnhandValue=7, MinimumValue=3)])
    partial = {"PartNo": "P1", "WarehouseCode": "W1", "LocationCode": "A", "OnhandValue": 2}
    result = ingest(engine, "sku_onhand", [partial], mode="merge")
    assert result.counts.updated == 1
    body, _ = stored(engine, "sku_onhand")["P1|W1|A"]
    assert (body["OnhandValue"], body["MinimumValue"], body["IsActive"]) == (2, 3, True)


def test_merge_treats_empty_price_fields_as_not_sent(engine: Engine) -> None:
    """For fields the kind declares, null or 0 in a merge record means "not sent"."""
    row = {
        "PartNo": "P1",
        "PriceListCode": "B2C-SE",
        "PricelistId": 1,
        "QuantityBreak": 1,
        "PriceSale": 100.0,
        "CurrencyCode": "SEK",
        "IsActive": True,
    }
    ingest(engine, "sku_price", [row])
    patch = {
        "PartNo": "P1",
        "PriceListCode": "B2C-SE",
        "QuantityBreak": 1,
        "PriceSale": 0,
        "PriceRecommended": 120,
    }
    ingest(engine, "sku_price", [patch], mode="merge")
    body, _ = stored(engine, "sku_price")["P1|B2C-SE|1"]
    assert (body["PriceSale"], body["PriceRecommended"]) == (100, 120)


def test_merge_of_an_unknown_entity_must_be_complete(engine: Engine) -> None:
    """A merge record for an entity never seen must carry every required field."""
    partial = {"PartNo": "P9", "WarehouseCode": "W1", "LocationCode": "A", "OnhandValue": 2}
    result = ingest(engine, "sku_onhand", [partial], mode="merge")
    (reject,) = result.rejects
    assert reject.reason.startswith("after merging: required field")


def test_a_merge_record_repeating_a_row_key_is_rejected_as_a_whole_record_is(
    engine: Engine,
) -> None:
    """Two culture rows with one key: which holds the value cannot be known. A whole record is
    rejected for it; a merge record over a stored SKU applied the last row without a word."""
    ingest(engine, "sku", [sku("P1", Cultures=[{"CultureCode": "sv-SE", "Name": "Stol"}])])
    rows = [{"CultureCode": "sv-SE", "Name": "Pall"}, {"CultureCode": "sv-SE", "Name": "Bänk"}]
    result = ingest(engine, "sku", [{"PartNo": "P1", "Cultures": rows}], mode="merge")
    (reject,) = result.rejects
    assert (reject.line, reject.field, reject.reason) == (
        1,
        "Cultures",
        "duplicate row key 'sv-SE' in a keyed collection",
    )
    assert stored(engine, "sku")["P1"][0]["Cultures"]["sv-SE"]["Name"] == "Stol"


def test_full_feed_deactivates_exactly_the_missing_rows_of_its_scope(engine: Engine) -> None:
    """Rows of the feed's warehouses that it leaves out are deactivated; others are untouched."""
    start = [onhand("P1"), onhand("P2"), onhand("P3"), onhand("P1", wh="W2")]
    ingest(engine, "sku_onhand", start)
    result = ingest(engine, "sku_onhand", [onhand("P1"), onhand("P3")], "full", max_remove="1")
    assert (result.counts.updated, result.counts.unchanged) == (1, 2)
    (change,) = result.changes
    assert change.key == "P2|W1|A"
    assert [(f.field, f.old, f.new) for f in change.rows[0].fields] == [("IsActive", True, False)]
    bodies = stored(engine, "sku_onhand")
    assert bodies["P1|W2|A"][0]["IsActive"] is True  # another warehouse: out of scope
    again = ingest(engine, "sku_onhand", [onhand("P1"), onhand("P3")], mode="full")
    assert again.changes == []  # already deactivated: no change the second time


def test_a_row_deactivated_before_is_not_counted_again(engine: Engine) -> None:
    """The same full feed twice: the second run counts its 2 records unchanged, nothing more
    (the row the first run switched off is not counted among them)."""
    ingest(engine, "sku_onhand", [onhand("P1"), onhand("P2"), onhand("P3")])
    ingest(engine, "sku_onhand", [onhand("P1"), onhand("P3")], "full", max_remove="1")
    again = ingest(engine, "sku_onhand", [onhand("P1"), onhand("P3")], "full", max_remove="1")
    counts = again.counts
    assert (counts.received, counts.unchanged, counts.updated, again.sweep) == (2, 2, 0, "swept")


TAG_SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "additionalProperties": False,
    "required": ["Group", "Code"],
    "properties": {
        "Group": {"type": "string"},
        "Code": {"type": "string"},
        "Label": {"type": "string"},
    },
    "x-deltahook": {
        "kind": "tag",
        "table": "tTag",
        "key": ["Group", "Code"],
        "scope": ["Group"],
        "on_missing": "delete",
    },
}


def test_full_feed_deletes_where_the_kind_says_so(database_url: str, tmp_path: Path) -> None:
    """A dropped-in kind whose missing entities are deleted loses exactly those of its scope."""
    schemas = tmp_path / "schemas"
    shutil.copytree(REPO / "schemas", schemas)
    (schemas / "entities" / "tag.json").write_bytes(orjson.dumps(TAG_SCHEMA))
    settings = Settings(database_url=database_url, schemas_dir=schemas)
    with Engine.from_settings(settings) as engine:
        tags = [{"Group": g, "Code": c} for g in ("colour", "size") for c in ("a", "b")]
        ingest(engine, "tag", tags)
        result = ingest(engine, "tag", [{"Group": "colour", "Code": "a"}], "full", max_remove=1)
        assert result.counts.deleted == 1
        assert [(c.key, c.op) for c in result.changes] == [("colour|b", Op.DELETE)]
        assert sorted(stored(engine, "tag")) == ["colour|a", "size|a", "size|b"]


LISTED_SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "required": ["Code"],
    "properties": {
        "Code": {"type": "string"},
        "Tags": {"type": "array", "items": {"type": "string"}},
        "Parts": {"type": "array", "items": {"type": "object"}},
    },
    "x-deltahook": {"kind": "listed", "table": "tListed", "key": ["Code"]},
}


def test_a_reordered_plain_list_is_unchanged_and_a_changed_one_says_what_changed(
    database_url: str, tmp_path: Path
) -> None:
    """A user's kind with lists of values and of objects with no key: the same items in another
    order are unchanged (no row change); one item more is an update naming it."""
    schemas = tmp_path / "schemas"
    shutil.copytree(REPO / "schemas", schemas)
    (schemas / "entities" / "listed.json").write_bytes(orjson.dumps(LISTED_SCHEMA))
    settings = Settings(database_url=database_url, schemas_dir=schemas)
    with Engine.from_settings(settings) as engine:
        first = {"Code": "L1", "Tags": ["b", "a", "a"], "Parts": [{"n": 1}, {"n": 2}]}
        ingest(engine, "listed", [first])
        reordered = {"Parts": [{"n": 2}, {"n": 1}], "Tags": ["a", "b", "a"], "Code": "L1"}
        again = ingest(engine, "listed", [reordered])
        assert (again.counts.unchanged, again.changes) == (1, [])
        grown = ingest(engine, "listed", [reordered | {"Tags": ["a", "c", "b", "a"]}])
        ((field,),) = [row.fields for change in grown.changes for row in change.rows]
        assert field.to_json() == {
            "field": "Tags",
            "old": ["a", "a", "b"],
            "new": ["a", "a", "b", "c"],
            "added": ["c"],
            "removed": [],
        }


def test_an_impossible_date_is_rejected_whichever_path_admits_records(engine: Engine) -> None:
    """No record with a date outside the calendar or in non-ASCII digits is stored, in upsert
    (the compiled fast path) or merge mode; each reject names the field."""
    odd = ["2026-02-30", "0000-01-01", "\uff12\uff10\uff12\uff16-12-01"]
    lines = [onhand(f"P{i}", NextDeliveryDate=date) for i, date in enumerate(odd)]
    for mode in ("upsert", "merge"):
        result = ingest(engine, "sku_onhand", lines, mode)  # type: ignore[arg-type]
        assert [(r.line, r.field) for r in result.rejects] == [
            (1, "NextDeliveryDate"),
            (2, "NextDeliveryDate"),
            (3, "NextDeliveryDate"),
        ]
    assert stored(engine, "sku_onhand") == {}


def test_bad_records_are_rejected_by_line_and_the_rest_stored(engine: Engine) -> None:
    """Malformed JSON on line 7 and a wrong type on line 12 are rejected; the rest go in."""
    lines: list[dict[str, Any] | str] = [onhand(f"P{i}") for i in range(1, 15)]
    lines[6] = '{"PartNo": "P7", '
    lines[11] = onhand("P12", OnhandValue="twelve")
    result = ingest(engine, "sku_onhand", lines)
    assert [(r.line, r.field) for r in result.rejects] == [(7, None), (12, "OnhandValue")]
    assert "malformed JSON" in result.rejects[0].reason
    assert "'twelve' is not of type 'number'" in result.rejects[1].reason
    assert result.counts.inserted == 12
    assert "P7|W1|A" not in stored(engine, "sku_onhand")
    with engine.db.connect() as conn:
        saved = conn.execute(select(job_rejects.c.line).order_by(job_rejects.c.line)).scalars()
        assert list(saved) == [7, 12]
        job = conn.execute(select(ingest_jobs)).one()
        assert (job.status, job.received, job.rejected) == ("validation failed", 14, 2)


def test_duplicate_keys_last_one_wins_and_is_reported(engine: Engine) -> None:
    """Within one feed a repeated key is reported and its last record is the one stored."""
    result = ingest(
        engine,
        "sku_onhand",
        [onhand("P1", OnhandValue=1), onhand("P2"), onhand("P1", OnhandValue=9)],
    )
    assert result.counts.duplicates == 1
    assert "line 3: duplicate key 'P1|W1|A'" in result.notices[0]
    assert stored(engine, "sku_onhand")["P1|W1|A"][0]["OnhandValue"] == 9


def test_preview_writes_nothing(engine: Engine) -> None:
    """Preview reports the changes an ingest would make and leaves the store as it was."""
    ingest(engine, "sku_onhand", [onhand("P1", OnhandValue=7)])
    before = stored(engine, "sku_onhand")
    result = engine.preview(
        "sku_onhand", ndjson([onhand("P1", OnhandValue=2), onhand("P2")]), fmt="ndjson"
    )
    assert (result.counts.updated, result.counts.inserted) == (1, 1)
    assert stored(engine, "sku_onhand") == before
    with engine.db.connect() as conn:
        assert len(conn.execute(select(ingest_jobs)).all()) == 1  # only the real ingest


def test_a_line_seen_before_still_applies_after_a_merge_changed_the_entity(engine: Engine) -> None:
    """Byte-identical lines are skipped only while they still describe the stored snapshot."""
    line = onhand("P1", OnhandValue=7)
    ingest(engine, "sku_onhand", [line])
    patch = {"PartNo": "P1", "WarehouseCode": "W1", "LocationCode": "A", "OnhandValue": 2}
    ingest(engine, "sku_onhand", [patch], mode="merge")
    again = ingest(engine, "sku_onhand", [line])
    assert again.counts.updated == 1
    assert stored(engine, "sku_onhand")["P1|W1|A"][0]["OnhandValue"] == 7


def test_a_reformatted_line_is_compared_by_content(engine: Engine) -> None:
    """A line whose bytes differ but whose content does not is still no change."""
    ingest(engine, "sku_onhand", [onhand("P1", OnhandValue=7)])
    spaced = orjson.dumps(onhand("P1", OnhandValue=7.0), option=orjson.OPT_INDENT_2)
    result = ingest(engine, "sku_onhand", [spaced.decode().replace("\n", " ")])
    assert (result.counts.unchanged, result.counts.updated) == (1, 0)


@pytest.mark.parametrize("mode", ["upsert", "full"])
def test_a_reformatted_line_is_remembered_and_passed_over_unread_next_time(
    engine: Engine, mode: Mode, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unchanged entity read from a new spelling of its line (keys reordered, 7 as 7.0)
    keeps its snapshot and version but stores that line's hash, so the next run finds the line
    among the stored ones and never parses it again (not every night while nothing changes)."""
    from deltahook.feeds.items import LineBatch

    ingest(engine, "sku_onhand", [onhand("P1", OnhandValue=7), onhand("P2", OnhandValue=1)], mode)
    respelled = orjson.dumps(dict(reversed(onhand("P1", OnhandValue=7.0).items()))).decode()
    again = [respelled, onhand("P2", OnhandValue=1)]
    first = ingest(engine, "sku_onhand", again, mode)
    assert (first.counts.unchanged, first.counts.updated) == (2, 0)
    with engine.db.connect() as conn:
        line_hash = conn.execute(
            select(entities.c.line_hash).where(entities.c.key == "P1|W1|A")
        ).scalar_one()
    assert line_hash == xxhash.xxh3_128_digest(respelled.encode() + b"\n")

    parsed: list[int] = []
    parse = LineBatch.parse
    monkeypatch.setattr(LineBatch, "parse", lambda self, i: parsed.append(i) or parse(self, i))
    second = ingest(engine, "sku_onhand", again, mode)
    assert (second.counts.unchanged, second.counts.updated, parsed) == (2, 0, [])
    assert {key: version for key, (_, version) in stored(engine, "sku_onhand").items()} == {
        "P1|W1|A": 1,
        "P2|W1|A": 1,
    }


def test_an_invalid_line_is_rejected_even_when_its_key_is_known(engine: Engine) -> None:
    """Only a line identical to the stored one skips validation; a changed bad one is refused."""
    ingest(engine, "sku_onhand", [onhand("P1", OnhandValue=7)])
    result = ingest(engine, "sku_onhand", [onhand("P1", OnhandValue="seven")])
    assert [(r.line, r.field) for r in result.rejects] == [(1, "OnhandValue")]


def test_an_ingest_queues_deliveries_for_subscriptions_the_config_declares(
    database_url: str,
) -> None:
    """A subscription added to the config file gets deliveries from the very next ingest."""
    from deltahook.store.tables import deliveries

    settings = Settings.model_validate(
        {
            "database_url": database_url,
            "subscriptions": [
                {
                    "name": "erp",
                    "url": "https://erp.example.com/hooks",
                    "event_types": ["SkuOnHandBreakPointNotification"],
                }
            ],
        }
    )
    with Engine.from_settings(settings) as engine:
        ingest(engine, "sku_onhand", [onhand("P1", OnhandValue=7, MinimumValue=3)])
        result = ingest(engine, "sku_onhand", [onhand("P1", OnhandValue=2, MinimumValue=3)])
        assert result.counts.deliveries == 1
        with engine.db.connect() as conn:
            (row,) = conn.execute(select(deliveries.c.subscription, deliveries.c.event_type))
        assert tuple(row) == ("erp", "SkuOnHandBreakPointNotification")


def test_a_jobs_notifications_and_deliveries_sit_with_it_in_id_order(database_url: str) -> None:
    """Each ingest job's id is time-ordered and every notification and delivery it stored
    carries the job's 48 time bits first, so a job's rows are one range of each primary key."""
    from deltahook.store.tables import deliveries, notifications

    settings = Settings.model_validate(
        {
            "database_url": database_url,
            "subscriptions": [
                {"name": "all", "url": "https://x.example.com/", "event_types": ["*"]}
            ],
        }
    )
    with Engine.from_settings(settings) as engine:
        jobs = [
            ingest(engine, "sku_onhand", [onhand("P1", OnhandValue=v, MinimumValue=3)]).job_id
            for v in (7, 2, 9)
        ]
        with engine.db.connect() as conn:
            stored = conn.execute(
                select(notifications.c.job_id, notifications.c.id, deliveries.c.id).join(
                    deliveries, deliveries.c.notification_id == notifications.c.id
                )
            ).all()
    assert {job for job, _, _ in stored} == set(jobs)
    assert all(job[14] == "7" for job in jobs)
    for job, notification_id, delivery_id in stored:
        assert notification_id[:13] == delivery_id[:13] == job[:13]


@pytest.mark.postgres
def test_a_large_insert_leaves_the_planner_statistics_current(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a job that inserted at least ``ANALYZE_AFTER`` snapshots the entities table is
    analysed at once, so the planner knows its rows (``reltuples``; -1 for never analysed). A
    smaller job leaves it to autovacuum."""
    monkeypatch.setattr("deltahook.ingesting.ANALYZE_AFTER", 5)

    def rows_known(engine: Engine) -> float:
        with engine.db.connect() as conn:
            return float(
                conn.exec_driver_sql(
                    "SELECT reltuples FROM pg_class"
                    " WHERE oid = to_regclass(current_schema() || '.entities')"
                ).scalar_one()
            )

    with Engine.from_settings(Settings(database_url=pg_url)) as engine:
        ingest(engine, "sku", [sku(f"P{n}") for n in range(4)])
        assert rows_known(engine) < 0
        ingest(engine, "sku", [sku(f"P{n}") for n in range(4, 10)])
        assert rows_known(engine) == 10


def test_a_feed_whose_file_name_is_not_utf8_is_ingested(engine: Engine, tmp_path: Path) -> None:
    """A file named on a Latin-1 system (byte 0xE9) is read and its job records the name with
    that byte written as \\xe9; recording it raised UnicodeEncodeError, and nothing was read."""
    path = Path(os.fsdecode(bytes(tmp_path) + b"/lager-v\xe9rde.ndjson"))
    path.write_bytes(ndjson([onhand("P1")]).getvalue())
    result = engine.ingest("sku_onhand", path)
    assert result.counts.inserted == 1
    with engine.db.connect() as conn:
        source = conn.execute(select(ingest_jobs.c.source)).scalar_one()
    assert source == str(tmp_path) + "/lager-v\\xe9rde.ndjson"
