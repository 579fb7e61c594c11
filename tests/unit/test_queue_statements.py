"""Statements written out for SQLite (the queue's subscribers read) say what SQLAlchemy
compiles."""

from sqlalchemy.dialects import sqlite

from deltahook.delivery import subscriptions as subs


def test_the_written_out_subscribers_query_is_the_compiled_one() -> None:
    """The SQLite text of the enabled-subscriptions query is the compiled statement's, so the
    written-out query reads exactly the rows (and in the same order) the statement would."""
    compiled = str(subs._SUBSCRIBERS.compile(dialect=sqlite.dialect()))
    assert " ".join(compiled.split()) == subs._SUBSCRIBERS_SQLITE


def test_the_written_out_finish_statements_are_the_compiled_ones() -> None:
    """``finish``'s two SQLite statements, written out, are the text SQLAlchemy compiles, with
    their parameters in the order the written-out rows give them."""
    from datetime import UTC, datetime

    from sqlalchemy import insert

    from deltahook.delivery import queue, queuesql
    from deltahook.store.tables import attempts

    columns = [
        "delivery_id",
        "number",
        "started_at",
        "duration_ms",
        "status_code",
        "response_excerpt",
        "error",
        "worker",
    ]
    record = insert(attempts).compile(dialect=sqlite.dialect(), column_keys=columns)
    assert str(record) == queuesql.RECORD
    assert record.positiontup == columns  # the written-out statement's parameter order
    statement = queue._finish_statement("w", datetime(2026, 1, 1, tzinfo=UTC))
    finish = statement.compile(
        dialect=sqlite.dialect(), column_keys=["b_id", "b_n", "b_status", "b_next", "b_code"]
    )
    assert " ".join(str(finish).split()) == queuesql.FINISH
    assert finish.positiontup == [
        "b_status",
        "b_next",
        "lease_until",
        "leased_by",
        "updated_at",
        "b_code",
        "b_error",
        "b_id",
        "leased_by_1",
        "b_n",
    ]


def test_the_written_out_claim_statements_are_the_compiled_ones() -> None:
    """A claim's two SQLite statements, written out, are the text SQLAlchemy compiles (the
    lease with one ``?`` per id), with their parameters in the order the claim gives them."""
    from datetime import UTC, datetime

    from deltahook.delivery import queue, queuesql

    due, lease = queue._claim_statements()
    now = datetime(2026, 1, 1, tzinfo=UTC)
    found = due.compile(dialect=sqlite.dialect()).construct_expanded_state(
        {"c_name": "hooks", "c_now": now, "c_count": 5}
    )
    assert " ".join(found.statement.split()) == queuesql.DUE
    assert found.positiontup == [
        "c_name",
        "c_now",
        "status_1_1",
        "status_1_2",
        "c_count",
        "param_1",
    ]
    leased = lease.compile(dialect=sqlite.dialect()).construct_expanded_state(
        {"c_ids": ["a", "b", "c"], "c_worker": "w", "c_until": now, "c_now": now}
    )
    assert " ".join(leased.statement.split()) == queuesql.LEASE + "?, ?, ?)"
    assert leased.positiontup == [
        "attempts_1",
        "c_until",
        "c_until",
        "c_worker",
        "c_now",
        "c_ids_1",
        "c_ids_2",
        "c_ids_3",
    ]
