"""Statements written out for SQLite (the queue's subscribers read) say what SQLAlchemy
compiles."""

from sqlalchemy.dialects import sqlite

from deltahook.delivery import subscriptions as subs


def test_the_written_out_subscribers_query_is_the_compiled_one() -> None:
    """The SQLite text of the enabled-subscriptions query is the compiled statement's, so the
    written-out query reads exactly the rows (and in the same order) the statement would."""
    compiled = str(subs._SUBSCRIBERS.compile(dialect=sqlite.dialect()))
    assert " ".join(compiled.split()) == subs._SUBSCRIBERS_SQLITE
