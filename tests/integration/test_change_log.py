"""The change log: every row change an ingest stores, compact, in the snapshot transaction,
kept as long as the delivery log (for replaying the recent past in ``rules diff``)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from sqlalchemy import func, select

from deltahook import replay
from deltahook.changes.model import MISSING
from deltahook.config import Settings
from deltahook.delivery import queue
from deltahook.engine import Engine
from deltahook.notifications import Notification
from deltahook.store import changelog
from deltahook.store.tables import change_log
from tests.clocks import MovableClock
from tests.integration.test_rules_ingest import ingest, ndjson

T0 = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock(T0)


@pytest.fixture
def engine(database_url: str, clock: MovableClock) -> Iterator[Engine]:
    settings = Settings(database_url=database_url, batch_size=2)
    with Engine.from_settings(settings, clock=clock) as engine:
        yield engine


def logged(engine: Engine) -> int:
    with engine.db.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(change_log)).scalar_one())


def test_each_stored_row_change_is_logged_with_its_job(engine: Engine) -> None:
    """An update logs only its changed fields, old and new, under the job that stored it."""
    first = ingest(engine, "sku", [{"PartNo": "P1", "EanCode": "73361031960", "StatusId": 1}])
    second = ingest(engine, "sku", [{"PartNo": "P1", "EanCode": "73361031961", "StatusId": 1}])
    with engine.db.connect() as conn:
        rows = changelog.read(conn, job_ids=[second.job_id])
    assert [(r.kind, r.entity_key, r.table, r.op) for r in rows] == [
        ("sku", "P1", "tClientProductSku", "update")
    ]
    assert rows[0].fields == (("EanCode", "73361031960", "73361031961"),)
    with engine.db.connect() as conn:
        (inserted,) = changelog.read(conn, job_ids=[first.job_id])
    assert ("EanCode", MISSING, "73361031960") in inserted.fields  # absent is not null


def test_a_logged_insert_reads_back_as_every_field_of_the_row_from_absent(engine: Engine) -> None:
    """An inserted row's fields read back sorted by name, each from absent."""
    first = ingest(engine, "sku", [{"StatusId": 1, "PartNo": "P1", "EanCode": "73361031960"}])
    with engine.db.connect() as conn:
        (inserted,) = changelog.read(conn, job_ids=[first.job_id])
    assert inserted.op == "insert"
    assert inserted.fields == (
        ("EanCode", MISSING, "73361031960"),
        ("PartNo", MISSING, "P1"),
        ("StatusId", MISSING, 1),
    )


def test_changes_logged_field_by_field_by_an_earlier_version_still_read(engine: Engine) -> None:
    """Rows whose fields are stored as [name, mask, old, new] lists (every row before inserts
    were stored whole) read as they always did."""
    fields = [["EanCode", 2, None, None], ["PartNo", 2, None, "P1"], ["StatusId", 3, 1, 2]]
    with engine.db.begin() as conn:
        conn.execute(
            change_log.insert().values(
                job_id="old-job",
                at=T0,
                kind="sku",
                entity_key="P1",
                parent_key=None,
                row_table="tClientProductSku",
                row_key=orjson.dumps({"PartNo": "P1"}),
                op="insert",
                fields=orjson.dumps(fields),
            )
        )
    with engine.db.connect() as conn:
        (row,) = changelog.read(conn, job_ids=["old-job"])
    assert row.fields == (("EanCode", MISSING, None), ("PartNo", MISSING, "P1"), ("StatusId", 1, 2))


def test_a_new_entity_is_logged_as_its_root_row_alone(engine: Engine) -> None:
    """A new entity's other rows are in the snapshot it made: only its root row's insert is
    logged; an update of a child row later logs that row."""
    cultures = [{"CultureCode": "sv-SE", "Name": "Tröja"}, {"CultureCode": "en-GB", "Name": "J"}]
    first = ingest(engine, "sku", [{"PartNo": "P1", "StatusId": 1, "Cultures": cultures}])
    cultures[1]["Name"] = "Jumper"
    second = ingest(engine, "sku", [{"PartNo": "P1", "StatusId": 1, "Cultures": cultures}])
    with engine.db.connect() as conn:
        (inserted,) = changelog.read(conn, job_ids=[first.job_id])
        (updated,) = changelog.read(conn, job_ids=[second.job_id])
    assert (inserted.table, inserted.op) == ("tClientProductSku", "insert")
    assert {name: new for name, _, new in inserted.fields} == {"PartNo": "P1", "StatusId": 1}
    assert (updated.table, updated.row_key, updated.op) == (
        "tClientProductSkuCulture",
        {"PartNo": "P1", "CultureCode": "en-GB"},
        "update",
    )


def test_preview_and_unchanged_records_log_nothing(engine: Engine) -> None:
    """A preview writes no change; a record stored unchanged adds none."""
    engine.preview("sku", ndjson([{"PartNo": "P1"}]), fmt="ndjson")
    assert logged(engine) == 0
    ingest(engine, "sku", [{"PartNo": "P1"}])
    ingest(engine, "sku", [{"PartNo": "P1"}])
    assert logged(engine) == 1


def test_purged_with_the_delivery_log(engine: Engine, clock: MovableClock) -> None:
    """Purging the delivery log before a time removes the changes logged before it too."""
    ingest(engine, "sku", [{"PartNo": "P1"}])
    clock.now = T0 + timedelta(days=8)
    ingest(engine, "sku", [{"PartNo": "P2"}])
    with engine.db.begin() as conn:
        removed = queue.purge(conn, before=T0 + timedelta(days=1))
    assert removed["changes"] == 1
    with engine.db.connect() as conn:
        assert [r.entity_key for r in changelog.read(conn, since=T0)] == ["P2"]


def test_replaying_the_recent_past_fires_what_the_ingests_fired(
    engine: Engine, clock: MovableClock
) -> None:
    """Replayed from the log against today's snapshots, the last jobs' row changes give the
    same notifications their ingests gave (a culture change, a delete of a row, an insert with
    a culture, logged as its root row alone, and a change of that culture)."""
    before = {
        "PartNo": "S1",
        "StatusId": 1,
        "Cultures": [{"CultureCode": "sv-SE", "Name": "Tröja"}, {"CultureCode": "en-GB"}],
    }
    after = {"PartNo": "S1", "StatusId": 2, "Cultures": [{"CultureCode": "sv-SE", "Name": "T"}]}
    ingest(engine, "sku", [before])
    clock.now += timedelta(hours=1)
    fired = ingest(engine, "sku", [after]).notifications
    clock.now += timedelta(hours=1)
    s2 = {"PartNo": "S2", "Cultures": [{"CultureCode": "sv-SE"}]}
    fired += ingest(engine, "sku", [s2]).notifications
    clock.now += timedelta(hours=1)
    s2["Cultures"] = [{"CultureCode": "sv-SE", "Name": "Ny"}]
    fired += ingest(engine, "sku", [s2]).notifications
    replayed = replay.notifications(engine, last_jobs=3)
    assert sorted(payloads(replayed)) == sorted(payloads(fired))
    assert len(replay.notifications(engine, last_jobs=4)) > len(replayed)


def payloads(notes: list[Notification]) -> list[bytes]:
    return [orjson.dumps(dict(n.payload), option=orjson.OPT_SORT_KEYS) for n in notes]
