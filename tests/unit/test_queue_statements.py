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

    from deltahook.delivery import queue
    from deltahook.store.tables import attempts

    record = insert(attempts).compile(
        dialect=sqlite.dialect(),
        column_keys=[
            "delivery_id",
            "number",
            "started_at",
            "duration_ms",
            "status_code",
            "response_excerpt",
            "error",
            "worker",
        ],
    )
    assert str(record) == queue._RECORD_SQLITE
    assert record.positiontup == [
        "delivery_id",
        "number",
        "started_at",
        "duration_ms",
        "status_code",
        "response_excerpt",
        "error",
        "worker",
    ]
    statement = queue._finish_statement("w", datetime(2026, 1, 1, tzinfo=UTC))
    finish = statement.compile(
        dialect=sqlite.dialect(), column_keys=["b_id", "b_n", "b_status", "b_next", "b_code"]
    )
    assert " ".join(str(finish).split()) == queue._FINISH_SQLITE
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
