"""Inserting many rows at once, for the tables a first load fills by the hundred thousand.

``conn.execute(insert(table), rows)`` builds and type-processes one parameter set per row in
Python, which took longer than SQLite's own inserting of the 500,000 notifications of a
first load of 100k SKUs; on PostgreSQL each row is still one statement the server plans and
runs. ``insert_many`` converts each column's values with the column type's bind processor
(the one SQLAlchemy would use) once per distinct object, so the timestamp every row shares
is converted once, then hands the rows to the driver: one ``executemany`` of the compiled
``INSERT`` on SQLite, one ``COPY`` on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

from sqlalchemy import Connection, Table, insert
from sqlalchemy.exc import DBAPIError


def insert_many(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows``, each naming the same columns, in the caller's transaction.

    Column defaults are not applied: give every column a value or leave it to the database.
    Driver errors are raised as SQLAlchemy's (``IntegrityError`` and so on), as ``execute``
    would raise them.
    """
    if rows:
        insert_columns(conn, table, {name: [row[name] for row in rows] for name in rows[0]})


def insert_columns(conn: Connection, table: Table, columns: Mapping[str, Sequence[Any]]) -> None:
    """``insert_many`` of rows given column by column: ``columns[name][i]`` is row i's value
    (for callers that have their values as columns: no dict per row is built)."""
    lengths = {len(values) for values in columns.values()}
    if len(lengths) != 1:
        raise ValueError(f"columns of different lengths: {sorted(lengths)}")
    if not lengths.pop():
        return
    dialect = conn.dialect
    compiled = insert(table).compile(dialect=dialect, column_keys=list(columns))
    names = list(compiled.positiontup or compiled.binds)
    processed = [
        _processed(table.c[name].type.dialect_impl(dialect).bind_processor(dialect), columns[name])
        for name in names
    ]
    values = list(zip(*processed, strict=True))
    if dialect.name == "postgresql":
        _copy(conn, table, names, values)
    elif compiled.positional:
        conn.exec_driver_sql(compiled.string, values)
    else:
        conn.exec_driver_sql(compiled.string, [dict(zip(names, v, strict=True)) for v in values])


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


def _copy(conn: Connection, table: Table, names: list[str], values: list[tuple[Any, ...]]) -> None:
    """``COPY table (names) FROM STDIN`` over the connection's own transaction (psycopg 3)."""
    quote = conn.dialect.identifier_preparer
    statement = (
        f"COPY {quote.format_table(table)} ({', '.join(quote.quote(name) for name in names)}) "
        "FROM STDIN"
    )
    if not conn.in_transaction():
        conn.begin()  # as execute() would: the COPY is then committed with the caller's work
    import psycopg  # only PostgreSQL copies: SQLite never loads the driver

    driver = cast(psycopg.Connection[Any], conn.connection.dbapi_connection)
    try:
        with driver.cursor() as cursor, cursor.copy(statement) as copy:
            for row in values:
                copy.write_row(row)
    except psycopg.Error as exc:
        raise DBAPIError.instance(statement, None, exc, psycopg.Error) from exc
