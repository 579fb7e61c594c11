"""The delivery log a page at a time, newest first, with a cursor to the next page.

The HTTP API (``GET /v1/deliveries``) and the console's Log tab both page through here, so
a cursor one hands out the other understands. A cursor is the position of the last entry of a
page, ``<microseconds since 1970, UTC>.<delivery id>``: every text ``CURSOR_PATTERN`` matches is
a position, so a client never meets a cursor that is well formed and refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from deltahook.delivery import log

CURSOR_MAX = 200
"""The longest cursor the API takes (it refuses longer ones up front); a real one is 54."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Page:
    """One page of log entries and the cursor to the next one (None on the last page)."""

    items: list[dict[str, Any]]
    next_cursor: str | None


def page(
    conn: Connection,
    where: log.LogFilter,
    *,
    now: datetime,
    cursor: str | None = None,
    payload: bool = False,
    with_attempts: bool = False,
) -> Page:
    """The ``where.limit`` newest entries after ``cursor``; ``ValueError`` for a bad cursor."""
    after = decode_cursor(cursor) if cursor else None
    query = replace(where, limit=where.limit + 1, after=after)
    found = log.entries(conn, query, now=now, payload=payload, with_attempts=with_attempts)
    items, more = found[: where.limit], len(found) > where.limit
    last = items[-1] if items else None
    next_cursor = encode_cursor(last["created_at"], last["id"]) if more and last else None
    return Page(items=items, next_cursor=next_cursor)


def encode_cursor(created_at: datetime, delivery_id: str) -> str:
    """The cursor of the position just after (``created_at``, ``delivery_id``), newest first."""
    return f"{(created_at - _EPOCH) // _MICROSECOND}.{delivery_id}"


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The (created_at, id) a cursor stands for; ``ValueError`` unless ``CURSOR_PATTERN``
    matches it."""
    if len(cursor) > CURSOR_MAX or not _CURSOR.fullmatch(cursor):
        raise ValueError(f"the cursor is not a next_cursor of this API: {CURSOR_FORMAT}")
    micros, delivery_id = cursor.split(".", 1)
    return _EPOCH + int(micros) * _MICROSECOND, delivery_id


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
CURSOR_PATTERN = r"^[0-9]{1,17}\.[0-9a-f-]{1,36}$"
"""What ``decode_cursor`` reads, as a JSON Schema pattern: up to year 5138, and the characters
of a delivery id (a UUID's text)."""
CURSOR_FORMAT = "<microseconds since 1970>.<delivery id>, as next_cursor gives it"
_CURSOR = re.compile(CURSOR_PATTERN.removeprefix("^").removesuffix("$"))
