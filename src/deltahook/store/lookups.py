"""Looking stored rows up by many values at once: ``IN`` lists cut to size, PostgreSQL arrays.

The helpers the batched reads of the store share (``snapshots``, ``refs``, ``rules.state``):
one round trip per batch of values, never one per value, and rows read as the driver's tuples.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Connection,
    CursorResult,
    Dialect,
    LargeBinary,
    String,
    TypeDecorator,
    any_,
    bindparam,
)

_T = TypeVar("_T")
_V = TypeVar("_V", str, bytes)

# SQLite allows 32,766 bound parameters per statement; stay well clear of it.
IN_CHUNK = 2_000
_PLAIN_ROWS = 10_000


def chunks(items: Sequence[_T], size: int = IN_CHUNK) -> Iterator[Sequence[_T]]:
    """Consecutive slices of ``items`` small enough for one ``IN (...)`` each."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def one_of(
    conn: Connection, column: ColumnElement[_V], values: Sequence[_V]
) -> Iterator[ColumnElement[bool]]:
    """``column IN values`` as conditions to run one after the other.

    On PostgreSQL one condition with the values in one array parameter (``= ANY(...)``): bound,
    sent and planned as one value rather than thousands (a third of a 1%-changed ingest went
    into expanding ``IN`` lists). Elsewhere ``IN`` lists of ``IN_CHUNK`` values each.
    """
    if conn.dialect.name == "postgresql":
        if isinstance(column.type, LargeBinary):
            yield column == any_(bindparam(None, list(values), type_=_ByteaArray()))
            return
        yield column == any_(bindparam(None, list(values), type_=ARRAY(String)))
        return
    for chunk in chunks(values):
        yield column.in_(chunk)


class _ByteaArray(TypeDecorator[Sequence[bytes | None]]):
    """A list of bytes bound as one ``bytea[]`` parameter written out in its text form.

    psycopg writes a list of bytes as text with a regular-expression escape per element: 5 ms of
    CPU for the 2,000 line hashes of a batch, against 1 ms for this join of their hex forms
    (unquoted elements ``\\\\xHEX``: the array parser reads ``\\\\`` as one backslash). The
    text goes to the server untyped and the statement casts the parameter itself
    (``$1::BYTEA[]``), so the planner sees a constant array, as with psycopg's own: a cast of a
    typed text value would be evaluated again for every row a sequential scan reads.
    """

    impl = ARRAY(LargeBinary)
    cache_ok = True

    def bind_processor(
        self, dialect: Dialect
    ) -> Callable[[Sequence[bytes | None] | None], str | None]:
        def process(values: Sequence[bytes | None] | None) -> str | None:
            if values is None:
                return None
            items = [f"\\\\x{v.hex()}" if v is not None else "NULL" for v in values]
            return "{" + ",".join(items) + "}"

        return process


def sqlite_in(
    conn: Connection, sql: str, kind: str, values: Sequence[Any]
) -> Iterator[tuple[Any, ...]]:
    """The rows of ``sql`` (ending in ``IN``) for ``kind`` and ``values``, the statement written
    out: SQLAlchemy binds each value of an ``IN`` list on its own, which cost as much again as
    the query (100k line hashes: about 0.2 s)."""
    for chunk in chunks(values):
        yield from plain(
            conn.exec_driver_sql(f"{sql} ({', '.join('?' * len(chunk))})", (kind, *chunk))
        )


def plain(result: CursorResult[Any]) -> Iterator[tuple[Any, ...]]:
    """The rows of ``result`` as the driver's own tuples, for reads of up to a whole kind.

    SQLAlchemy's row objects cost more than the query itself there; the columns read this way
    are strings and bytes, which both drivers return as they are.
    """
    try:
        while rows := result.cursor.fetchmany(_PLAIN_ROWS):
            yield from rows
    finally:
        result.close()
