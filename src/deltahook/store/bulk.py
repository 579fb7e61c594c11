"""Inserting many rows at once, for the tables a first load fills by the hundred thousand.

``conn.execute(insert(table), rows)`` builds and type-processes one parameter set per row in
Python, which took longer than SQLite's own inserting of the 500,000 notifications of a
first load of 100k SKUs; on PostgreSQL each row is still one statement the server plans and
runs. ``insert_columns`` takes the rows column by column, converts each column's values with
the column type's bind processor (the one SQLAlchemy would use) once per distinct object, so
the timestamp every row shares is converted once, then hands the rows to the driver: one
``executemany`` of the compiled ``INSERT`` on SQLite, one ``COPY`` on PostgreSQL.

The ``COPY`` is in PostgreSQL's binary format where every column's type has one psycopg
writes (``_COPY_TYPES``): in the text format the bytes columns go as hex both ways, and
the 1,463 notifications of a 1%-changed 100k-SKU ingest cost ~38 ms of client CPU and ~100
ms of the server's (under load), against ~7 and ~60 ms.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import Any, cast

from sqlalchemy import Connection, Dialect, LargeBinary, Table, insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.types import TypeEngine


def insert_columns(
    conn: Connection,
    table: Table,
    columns: Mapping[str, Sequence[Any]],
    *,
    same: Mapping[str, Any] | None = None,
) -> None:
    """Insert rows given column by column, in the caller's transaction: ``columns[name][i]`` is
    row i's value, ``same[name]`` every row's (converted once; no list of copies is built).

    No dict per row is built. Column defaults are not applied: give every column a value or
    leave it to the database. Driver errors are raised as SQLAlchemy's (``IntegrityError`` and
    so on), as ``execute`` would raise them.
    """
    lengths = {len(values) for values in columns.values()}
    if len(lengths) != 1:
        raise ValueError(f"columns of different lengths: {sorted(lengths)}")
    count = lengths.pop()
    if not count:
        return
    same = same or {}
    dialect = conn.dialect
    plan = _plan(table, dialect, (*columns, *same))
    values = list(zip(*(_column(p, n, columns, same, count) for n, p in plan.columns), strict=True))
    names = [name for name, _ in plan.columns]
    if dialect.name == "postgresql":
        _copy(conn, table, names, values, plan.copy_types)
    elif plan.positional:
        conn.exec_driver_sql(plan.sql, values)
    else:
        conn.exec_driver_sql(plan.sql, [dict(zip(names, v, strict=True)) for v in values])


def _column(
    process: Callable[[Any], Any] | None,
    name: str,
    columns: Mapping[str, Sequence[Any]],
    same: Mapping[str, Any],
    count: int,
) -> Iterable[Any]:
    """The values of one column as the driver takes them, row by row."""
    if name in columns:
        return _processed(process, columns[name])
    value = same[name]
    return repeat(value if process is None else process(value), count)


@dataclass(frozen=True, slots=True)
class _Plan:
    """A compiled ``INSERT`` and its columns in parameter order, each with its bind processor."""

    sql: str
    positional: bool
    columns: tuple[tuple[str, Callable[[Any], Any] | None], ...]
    copy_types: tuple[str, ...] | None  # PostgreSQL's for a binary COPY (None: text)


@functools.lru_cache(maxsize=64)
def _plan(table: Table, dialect: Dialect, keys: tuple[str, ...]) -> _Plan:
    """Made once per table, dialect and columns: compiling the statement cost as much as the
    insert itself for the small batches of a nightly feed (a millisecond a table a batch)."""
    compiled = insert(table).compile(dialect=dialect, column_keys=list(keys))
    names = list(compiled.positiontup or compiled.binds)
    processors = [bind_processor(table.c[n].type, dialect) for n in names]
    types = [_COPY_TYPES.get(_type_name(table.c[n].type, dialect)) for n in names]
    return _Plan(
        compiled.string,
        bool(compiled.positional),
        tuple(zip(names, processors, strict=True)),
        None if dialect.name != "postgresql" or None in types else tuple(cast(list[str], types)),
    )


# PostgreSQL's column types (as SQLAlchemy writes them) whose binary form psycopg writes from the
# values the column's bind processor gives, by the name psycopg knows the type by.
_COPY_TYPES = {
    "VARCHAR": "varchar",
    "TEXT": "text",
    "BYTEA": "bytea",
    "INTEGER": "int4",
    "BIGINT": "int8",
    "BOOLEAN": "bool",
    "TIMESTAMP WITH TIME ZONE": "timestamptz",
}


def _type_name(column_type: TypeEngine[Any], dialect: Dialect) -> str:
    """The column type's name in ``dialect``, a ``VARCHAR``'s without its length."""
    name = column_type.compile(dialect=dialect)
    return "VARCHAR" if name.startswith("VARCHAR(") else name


def bind_processor(column_type: TypeEngine[Any], dialect: Dialect) -> Callable[[Any], Any] | None:
    """The column type's bind processor, but none for binary columns: both drivers take
    ``bytes`` as they are (SQLAlchemy wraps each value in the driver's ``Binary``)."""
    if isinstance(column_type, LargeBinary):
        return None
    return column_type.dialect_impl(dialect).bind_processor(dialect)


def _processed(process: Callable[[Any], Any] | None, values: Sequence[Any]) -> Sequence[Any]:
    if process is None:
        return values
    out: list[Any] = []
    last: Any = out  # a sentinel no row holds
    done: Any = None
    for value in values:
        if value is not last:
            last, done = value, process(value)
        out.append(done)
    return out


def _copy(
    conn: Connection,
    table: Table,
    names: list[str],
    values: list[tuple[Any, ...]],
    types: tuple[str, ...] | None,
) -> None:
    """``COPY table (names) FROM STDIN`` over the connection's own transaction (psycopg 3), in
    the binary format with ``types`` (the columns' types), else in the text format."""
    quote = conn.dialect.identifier_preparer
    statement = (
        f"COPY {quote.format_table(table)} ({', '.join(quote.quote(name) for name in names)}) "
        f"FROM STDIN{'' if types is None else ' (FORMAT BINARY)'}"
    )
    if not conn.in_transaction():
        conn.begin()  # as execute() would: the COPY is then committed with the caller's work
    import psycopg  # only PostgreSQL copies: SQLite never loads the driver

    driver = cast(psycopg.Connection[Any], conn.connection.dbapi_connection)
    try:
        with driver.cursor() as cursor, cursor.copy(statement) as copy:
            if types is not None:
                copy.set_types(types)
            for row in values:
                copy.write_row(row)
    except psycopg.Error as exc:
        raise DBAPIError.instance(statement, None, exc, psycopg.Error) from exc
