"""The Log tab: a type's deliveries, filtered and paged; resend one, retry all failed ones."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Request, Response

from deltahook.api.deps import EngineDep
from deltahook.console.render import back, checked_form, deliveries, redirect
from deltahook.console.types import event_type, type_page
from deltahook.delivery import log, pages
from deltahook.delivery import subscriptions as subs
from deltahook.delivery.credentials import with_url_credentials
from deltahook.delivery.operational import client_id_of
from deltahook.delivery.signing import request_headers
from deltahook.delivery.status import Resent
from deltahook.engine import Engine
from deltahook.errors import DeliveryError
from deltahook.store.db import reading

router = APIRouter(prefix="/admin", include_in_schema=False)
PAGE_SIZE = 50
RETRY_BOUND = 1000
"""The most deliveries one press of "Retry all failed" queues again (press again for more)."""
RANGES = (("", "Any time"), ("1h", "Last hour"), ("24h", "Last 24 hours"), ("7d", "Last 7 days"))
HIDDEN = "•••••• (value not shown)"
SIGNATURE = "v1,… (signed per attempt, not shown)"
OFF = "switched off: switch it on first"


def _filter(engine: Engine, name: str, query: Mapping[str, str]) -> log.LogFilter:
    """The Log tab's filters from a query string or form; unknown values are ignored."""
    since = query.get("since", "")
    status = query.get("status", "")
    return log.LogFilter(
        event_type=name,
        since=_since(since, engine.clock()) if since in dict(RANGES) else None,
        status=status if status in log.FILTER_STATUSES else None,
        subscription=query.get("subscription") or None,
        limit=PAGE_SIZE,
    )


def _applied(query: Mapping[str, str]) -> dict[str, str]:
    """The filters ``_filter`` applies, as the page shows and carries them: a value it
    ignores (a hand-edited link's) is left out, never shown as a filter that matched nothing."""
    since, status = query.get("since", ""), query.get("status", "")
    return {
        "since": since if since in dict(RANGES) else "",
        "status": status if status in log.FILTER_STATUSES else "",
        "subscription": query.get("subscription", ""),
    }


def _since(text: str, now: datetime) -> datetime | None:
    try:
        return log.parse_when(text, now=now) if text else None
    except DeliveryError:
        return None


@router.get("/types/{name}/log")
def log_tab(request: Request, name: str, engine: EngineDep) -> Response:
    """Newest first; each row opens to its payload, the headers sent and every attempt."""
    event = event_type(engine, name)
    query = dict(request.query_params)
    where = _filter(engine, name, query)
    with reading(engine.db) as conn:
        known = {s.name: s for s in subs.load(conn)}
        try:
            found = pages.page(
                conn,
                where,
                now=engine.clock(),
                cursor=query.get("cursor"),
                payload=True,
                with_attempts=True,
            )
        except ValueError:  # an edited link: its page says so
            found, unreadable = pages.Page(items=[], next_cursor=None), True
        else:
            unreadable = False
    for entry in found.items:
        entry["deleted"] = entry["subscription"] not in known  # nowhere to resend it
        entry["headers"] = headers_sent(
            known.get(entry["subscription"]),
            entry,
            client_id=client_id_of(engine.settings.constants),
        )
    filters = _applied(query)
    return type_page(
        request,
        "log.html",
        event,
        tab="/log",
        entries=found.items,
        cursor=query.get("cursor", ""),
        unreadable=unreadable,
        next_cursor=found.next_cursor,
        filters=filters,
        ranges=RANGES,
        statuses=log.FILTER_STATUSES,
        subscriptions=sorted({*known, filters["subscription"]} - {""}),  # a deleted one too
        bound=RETRY_BOUND,
    )


def headers_sent(
    sub: subs.Subscription | None, entry: Mapping[str, Any], *, client_id: int
) -> list[tuple[str, str]]:
    """The headers a delivery goes out with, as the sender builds them (the timestamp is the
    last attempt's; the detection time is when the delivery was queued, with its
    notification): event headers in full, the signature and custom headers by name only."""
    if sub is None:
        return []
    attempts = entry.get("attempt_log") or []
    at = attempts[-1]["started_at"] if attempts else entry["created_at"]
    sent = request_headers(
        style=sub.header_style,
        message_id=entry["message_id"],
        event_type=entry["event_type"],
        timestamp=at,
        body=b"",
        secrets=sub.secrets,
        custom=(own := with_url_credentials(sub.url, sub.headers)),
        detected_at=entry["created_at"],
        client_id=str(client_id),
    )
    custom = {name.lower(): value for name, value in own.items()}
    return [(name, _shown(name, value, custom)) for name, value in sent.items()]


def _shown(name: str, value: str, custom: Mapping[str, str]) -> str:
    """A header's value as the log shows it: the signature and a custom header's value (one
    a system header overrides went out with the system's value) are not."""
    if name == "webhook-signature":
        return SIGNATURE
    return HIDDEN if custom.get(name.lower()) == value else value


@router.post("/deliveries/{delivery_id}/resend")
async def resend(request: Request, delivery_id: str, engine: EngineDep) -> Response:
    """Queue one delivery again now, with the same message id (as the API's resend)."""
    fields = await checked_form(request)

    def run() -> dict[str, Resent]:
        with engine.db.begin() as conn:
            return log.resend(conn, [delivery_id], now=engine.clock())

    outcome = await anyio.to_thread.run_sync(run)
    said = ", ".join(sorted(set(outcome.values())))
    return redirect(request, back(fields, "/admin/"), notice=f"Resend: {said}")


@router.post("/types/{name}/log/retry")
async def retry_all_failed(request: Request, name: str, engine: EngineDep) -> Response:
    """Queue again every failed delivery matching the tab's filters (at most ``RETRY_BOUND``)."""
    fields = await checked_form(request)
    event_type(engine, name)
    where = _filter(engine, name, fields)

    def run() -> tuple[int, str]:
        with engine.db.begin() as conn:
            queued = log.retry_failed(conn, where, now=engine.clock(), limit=RETRY_BOUND)
            return queued, _left(log.left_off(conn, where))

    queued, left = await anyio.to_thread.run_sync(run)
    more = " (the most one press queues: press again for more)" if queued == RETRY_BOUND else ""
    notice = f"Queued {deliveries(queued)} again{more}{left}"
    return redirect(request, back(fields, f"/admin/types/{name}/log"), notice=notice)


def _left(left: dict[str, bool]) -> str:
    """Why the failed deliveries of the subscriptions ``left`` (name: deleted) were not queued
    again: each is off or gone."""
    why = [f"{name} ({'deleted' if gone else OFF})" for name, gone in left.items()]
    return f". Left alone, the failed deliveries of {', '.join(why)}" if why else ""
