"""insert_columns on both databases: the rows SQLAlchemy's insert would store, and its errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Table, insert, select
from sqlalchemy.exc import IntegrityError

from deltahook import writing
from deltahook.store.bulk import insert_columns
from deltahook.store.db import open_engine
from deltahook.store.tables import entities, ingest_jobs, notifications, subscriptions

NOW = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
AWKWARD = "tab\there, new\nline, \\N, 'quotes\", ø 𝄞"  # what COPY's text format must escape


def _row(number: int, created_at: datetime = NOW) -> dict[str, object]:
    return {
        "id": f"n-{number}",
        "type": "SkuChangedNotification",
        "family": "notification",
        "entity_kind": "sku",
        "entity_key": AWKWARD if number == 3 else f"SKU-{number}",
        "job_id": "job",
        "idempotency_key": None,
        "created_at": created_at,
        "payload": b'{"PartNo":"SKU-%d"}' % number,
        "explanation": None if number % 2 else b"{}",
    }


def _columns(rows: list[dict[str, object]]) -> dict[str, list[object]]:
    return {name: [row[name] for row in rows] for name in rows[0]}


def test_insert_columns_stores_what_insert_stores(database_url: str) -> None:
    """Each value, the shared timestamp and other offsets included, reads back as with insert."""
    elsewhere = NOW.astimezone(timezone(timedelta(hours=2)))
    rows = [_row(1), _row(2, elsewhere), _row(3), _row(4)]
    engine = open_engine(database_url)
    try:
        with engine.begin() as conn:
            insert_columns(conn, notifications, _columns(rows))
            conn.execute(insert(notifications), [r | {"id": f"x-{r['id']}"} for r in rows])
        with engine.connect() as conn:
            stored = {row.id: row._asdict() for row in conn.execute(select(notifications))}
    finally:
        engine.dispose()
    for row in rows:
        bulk, plain = stored[str(row["id"])], stored[f"x-{row['id']}"]
        assert bulk | {"id": plain["id"]} == plain
        assert bulk["created_at"] == NOW


def test_insert_columns_raises_sqlalchemy_errors(database_url: str) -> None:
    """A duplicate key is an IntegrityError, which the ingest treats as a conflict to retry."""
    engine = open_engine(database_url)
    try:
        with engine.begin() as conn:
            insert_columns(conn, notifications, _columns([_row(1)]))
        with pytest.raises(IntegrityError), engine.begin() as conn:
            insert_columns(conn, notifications, _columns([_row(2), _row(1)]))
    finally:
        engine.dispose()


def test_only_a_unique_violation_where_two_ingests_race_is_a_conflict(database_url: str) -> None:
    """The same new entity inserted twice (another ingest got there first) is retried; a clash
    of notification ids, or a row missing a required value, is a real failure, raised at once."""
    entity = {
        "kind": "sku",
        "key": "SKU-1",
        "parent_key": None,
        "scope": "",
        "hash": bytes(16),
        "body": b"{}",
        "version": 1,
        "created_at": NOW,
        "updated_at": NOW,
        "job_id": "job",
        "line_hash": None,
    }
    engine = open_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(insert(entities), [entity])
            insert_columns(conn, notifications, _columns([_row(1)]))
        raised = []
        for table, rows in (
            (entities, [entity]),
            (notifications, [_row(1)]),
            (entities, [entity | {"key": "SKU-2", "body": None}]),
        ):
            with pytest.raises(IntegrityError) as caught, engine.begin() as conn:
                conn.execute(insert(table), rows)
            raised.append(writing._is_conflict(caught.value))
    finally:
        engine.dispose()
    assert raised == [True, False, False]


def test_insert_columns_begins_a_transaction_as_execute_does(database_url: str) -> None:
    """On a connection with no transaction yet, the rows are kept by the caller's commit."""
    engine = open_engine(database_url)
    try:
        with engine.connect() as conn:
            insert_columns(conn, notifications, _columns([_row(1)]))
            conn.commit()
        with engine.connect() as conn:
            assert conn.execute(select(notifications.c.id)).scalars().all() == ["n-1"]
    finally:
        engine.dispose()


def test_values_every_row_shares_are_stored_in_every_row(database_url: str) -> None:
    """Columns given once in ``same`` read back in every row as if given row by row."""
    rows = [_row(number) for number in range(1, 6)]
    columns = _columns(rows)
    shared = {name: columns.pop(name)[0] for name in ("type", "job_id", "created_at")}
    columns["id"] = [f"c-{row['id']}" for row in rows]
    engine = open_engine(database_url)
    try:
        with engine.begin() as conn:
            insert_columns(conn, notifications, _columns(rows))
            insert_columns(conn, notifications, columns, same=shared)
        with engine.connect() as conn:
            stored = {row.id: row._asdict() for row in conn.execute(select(notifications))}
    finally:
        engine.dispose()
    assert len(stored) == 2 * len(rows)
    for row in rows:
        assert stored[f"c-{row['id']}"] | {"id": row["id"]} == stored[str(row["id"])]


def test_insert_columns_refuses_columns_of_different_lengths(database_url: str) -> None:
    """Columns of unequal length are a programming error, raised before anything is sent."""
    columns = {name: [value] for name, value in _row(1).items()}
    columns["type"] = []
    engine = open_engine(database_url)
    try:
        with pytest.raises(ValueError, match="different lengths"), engine.begin() as conn:
            insert_columns(conn, notifications, columns)
    finally:
        engine.dispose()


_JOB: dict[str, object] = {
    "kind": "sku",
    "mode": "full",
    "source": AWKWARD,
    "status": "running",
    "started_at": NOW,
    "finished_at": None,
    "received": 2**31 - 1,
    "rejected": 0,
    "duplicates": -1,
    "unchanged": 0,
    "inserted": 0,
    "updated": 0,
    "deleted": 0,
    "notifications": 0,
    "owner": None,
    "lease_until": NOW,
    "baseline": True,
}
_SUBSCRIPTION: dict[str, object] = {
    "url": AWKWARD,
    "event_types": "*",
    "enabled": False,
    "header_style": "standard",
    "headers": "{}",
    "secrets": "[]",
    "timeout_s": 2.5,
    "schedule_s": "[]",
    "max_concurrency": 3,
    "source": "config",
    "config_enabled": None,
    "rate_at": NOW,
    "created_at": NOW,
    "updated_at": NOW,
}


@pytest.mark.parametrize(
    ("table", "key", "row"),
    [
        # every column of a type PostgreSQL's binary COPY is written in: booleans, integers,
        # text, timestamps, NULL
        (ingest_jobs, "id", _JOB),
        # a float among them: the COPY in the text format
        (subscriptions, "name", _SUBSCRIPTION),
    ],
)
def test_insert_columns_stores_each_column_type_as_insert_does(
    database_url: str, table: Table, key: str, row: dict[str, object]
) -> None:
    """Booleans, integers, floats, text, timestamps and NULL read back as ``insert`` stores
    them, in a COPY in PostgreSQL's binary format or in its text format."""
    engine = open_engine(database_url)
    try:
        with engine.begin() as conn:
            insert_columns(conn, table, {name: [v] for name, v in (row | {key: "bulk"}).items()})
            conn.execute(insert(table), [row | {key: "plain"}])
        with engine.connect() as conn:
            stored = {r._mapping[key]: r._asdict() for r in conn.execute(select(table))}
    finally:
        engine.dispose()
    assert stored["bulk"] | {key: "plain"} == stored["plain"]
    assert {name: stored["bulk"][name] for name in row} == row
