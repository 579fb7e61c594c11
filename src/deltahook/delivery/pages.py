"""The delivery log a page at a time, newest first, with an opaque cursor to the next page.

The HTTP API (``GET /v1/deliveries``) and the console's Log tab both page through here, so
a cursor one hands out the other understands.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from deltahook.clock import as_utc
from deltahook.delivery import log

CURSOR_MAX = 200
"""The longest cursor ``decode_cursor`` reads (the API refuses longer ones up front)."""


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
    raw = f"{created_at.isoformat()}|{delivery_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The (created_at, id) a cursor stands for; ``ValueError`` unless this code made it."""
    problem = ValueError("the cursor is not one this API gave out")
    if len(cursor) > CURSOR_MAX:
        raise problem
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, delivery_id = raw.split("|", 1)
        when = datetime.fromisoformat(at)
        if when.tzinfo is None or "\x00" in delivery_id:  # PostgreSQL refuses a NUL in text
            raise problem
        return as_utc(when), delivery_id
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise problem from None
