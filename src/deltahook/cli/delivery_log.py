"""The delivery log at the command line: log, status, resend, recover, purge, and a receiver."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import click
import orjson
from rich.table import Table
from rich.text import Text

from deltahook import bootstrap, job_events
from deltahook.catalog.events import EventCatalog, load_event_catalog
from deltahook.cli.app import State, err, friendly, main, out, print_json
from deltahook.clock import utc_now
from deltahook.delivery import log, queue
from deltahook.delivery.status import QUEUED, DeliveryStatus, Resent
from deltahook.store.db import reading

_COLOURS = {
    DeliveryStatus.DELIVERED: "green",
    DeliveryStatus.DEAD: "red",
    DeliveryStatus.RETRYING: "yellow",
}
_COUNTED = (*QUEUED, DeliveryStatus.DEAD)  # the status table's count columns


@main.command("log")
@click.option("--subscription", help="Only this subscription.")
@click.option("--type", "event_type", help="Only this event type.")
@click.option("--since", help="Queued at or after: ISO 8601 or a duration ago (30m, 2h, 7d).")
@click.option("--until", help="Queued before: ISO 8601 or a duration ago.")
@click.option(
    "--status",
    type=click.Choice(log.FILTER_STATUSES),
    help="failed = retrying or dead.",
)
@click.option("--payload", is_flag=True, help="Show each payload.")
@click.option("--attempts", "with_attempts", is_flag=True, help="Show every attempt.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
@friendly
def show_log(
    state: State,
    subscription: str | None,
    event_type: str | None,
    since: str | None,
    until: str | None,
    status: str | None,
    payload: bool,
    with_attempts: bool,
    limit: int,
    as_json: bool,
) -> None:
    """Deliveries, newest first, with their status and last answer."""
    now = utc_now()
    where = log.LogFilter(
        subscription=subscription,
        event_type=event_type,
        since=log.parse_when(since, now=now) if since else None,
        until=log.parse_when(until, now=now) if until else None,
        status=status,
        limit=limit,
    )
    with reading(bootstrap.open_store(state.settings)) as conn:
        found = log.entries(conn, where, now=now, payload=payload, with_attempts=with_attempts)
    if as_json:
        print_json(found)
        return
    if not found:
        out.print("no deliveries match")
    for entry in found:
        _print_entry(entry)


def _print_entry(entry: dict[str, Any]) -> None:
    """One delivery's line; built as styled text, so no value is ever read as markup."""
    colour = _COLOURS.get(entry["status"])
    state = "in flight" if entry["in_flight"] else entry["status"]
    last = entry["last_status_code"] or entry["last_error"] or ""
    due = entry["next_attempt_at"]
    line = Text.assemble(
        f"{_when(entry['created_at'])}  {entry['id']}  ",
        (entry["subscription"], "bold"),
        f"  {entry['event_type']}  ",
        (state, colour or ""),
        f"  attempts {entry['attempts']}",
        f"  last {last}" if last else "",
        f"  next {_when(due)}" if due and entry["status"] != DeliveryStatus.PENDING else "",
    )
    out.print(line, soft_wrap=True, highlight=False)
    if "payload" in entry:
        out.print("    " + orjson.dumps(entry["payload"]).decode(), markup=False, soft_wrap=True)
    for attempt in entry.get("attempt_log", []):
        answer = attempt["status_code"] or attempt["error"]
        out.print(
            f"    #{attempt['number']} {_when(attempt['started_at'])} "
            f"{attempt['duration_ms']:.0f} ms  {answer}",
            markup=False,
            soft_wrap=True,
        )
        if attempt["response_excerpt"]:
            excerpt = attempt["response_excerpt"].replace("\n", " ")[:200]
            out.print(f"      {excerpt}", markup=False, soft_wrap=True)


def _events(state: State) -> EventCatalog | None:
    """The event catalog, for the JobCompletedEvent of a job found abandoned (if asked for)."""
    return (
        load_event_catalog(state.settings.event_schemas_dir) if state.settings.job_events else None
    )


def abandoned_line(job: dict[str, Any]) -> str:
    """One line for a job found abandoned: which, and what it applied before its process died."""
    applied = " · ".join(f"{name} {count:,}" for name, count in job["counts"].items())
    return (
        f"ingest job {job['job_id']} abandoned ({job['kind']}, {job['mode']}, started "
        f"{_when(job['started_at'])}; its process is gone): {applied}"
    )


def _when(value: datetime) -> str:
    return value.isoformat(timespec="seconds").replace("+00:00", "Z")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
@friendly
def status(state: State, as_json: bool) -> None:
    """Per subscription: paused, circuit open or switched off and why, pending, retrying,
    dead, delivered in the last hour, oldest due age."""
    now = utc_now()
    store = bootstrap.open_store(state.settings)
    try:
        abandoned, rows = job_events.fresh(
            store,
            lambda conn: log.status(conn, now=now),
            settings=state.settings,
            events=_events(state),
            now=now,
        )
    finally:
        store.dispose()
    for job in abandoned:  # on stderr with --json, so that stdout stays one JSON document
        (err if as_json else out).print(abandoned_line(job), markup=False, soft_wrap=True)
    if as_json:
        print_json(rows)
        return
    table = Table("subscription", "on", *_COUNTED, "in flight")
    table.add_column("delivered 1h")
    table.add_column("oldest due")
    for row in rows:
        age = row["oldest_due_age_s"]
        table.add_row(
            row["subscription"],
            _state(row),
            *(f"{row[k]:,}" for k in (*_COUNTED, "in_flight")),
            f"{row['delivered_last_hour']:,}",
            "-" if age is None else f"{age:,.1f} s",
        )
    out.print(table)
    for row in rows:
        if (why := _why(row)) is not None:
            out.print(f"{row['subscription']} {why}", markup=False, soft_wrap=True)


def _state(row: dict[str, Any]) -> str:
    """The status table's "on" cell: why nothing is being sent, if something stops it."""
    if row["paused"]:
        return "[yellow]paused[/]"
    if row["circuit_open_until"]:
        return "[yellow]circuit open[/]"
    return "on" if row["enabled"] else "[dim]off[/]"


def _why(row: dict[str, Any]) -> str | None:
    """The line under the status table that says why a subscription sends nothing."""
    if row["paused"]:
        return f"paused: {row['paused']}"
    if row["circuit_open_until"]:
        last = row["last_status_code"]
        answer = f"the last answered {last}" if last is not None else "the last got no answer"
        return (
            f"circuit open: {row['failures']:,} failed attempts in a row ({answer}); "
            f"nothing is sent until {row['circuit_open_until']}, then one probe"
        )
    if row["disabled_reason"]:
        return f"switched off by the dispatcher: {row['disabled_reason']}"
    return None


@main.command()
@click.argument("ids", nargs=-1, required=True)
@click.pass_obj
@friendly
def resend(state: State, ids: tuple[str, ...]) -> None:
    """Queue deliveries again now, with the same message id (a notification id: all of its)."""
    with bootstrap.open_store(state.settings).begin() as conn:
        outcome = log.resend(conn, ids, now=utc_now())
    for delivery_id, what in outcome.items():
        out.print(f"{delivery_id}: {what}")
    if Resent.QUEUED not in outcome.values():
        raise click.exceptions.Exit(1)


@main.command()
@click.argument("subscription")
@click.option("--since", required=True, help="ISO 8601 or a duration ago (30m, 2h, 7d).")
@click.option("--until", help="ISO 8601 or a duration ago (default: now).")
@click.pass_obj
@friendly
def recover(state: State, subscription: str, since: str, until: str | None) -> None:
    """Queue every failed or dead delivery of SUBSCRIPTION queued since a time, due now."""
    now = utc_now()
    start = log.parse_when(since, now=now)
    end = log.parse_when(until, now=now) if until else None
    with bootstrap.open_store(state.settings).begin() as conn:
        count = log.recover(conn, subscription, since=start, until=end, now=now)
    out.print(f"{count:,} deliveries of {subscription} queued again")


@main.command()
@click.option("--older-than", default="7d", show_default=True, help="Age, e.g. 12h or 7d.")
@click.pass_obj
@friendly
def purge(state: State, older_than: str) -> None:
    """Delete delivered and dead deliveries (and their attempts and payloads), the change log
    and ended ingest jobs older than this."""
    before = utc_now() - log.parse_age(older_than)
    with bootstrap.open_store(state.settings).begin() as conn:
        removed = queue.purge(conn, before=before)
    out.print(", ".join(f"{count:,} {what}" for what, count in removed.items()) + " removed")


@main.command()
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8765,
    show_default=True,
    help="Port on 127.0.0.1 (0: a free one).",
)
@click.option(
    "--fail",
    type=click.IntRange(min=0),
    default=0,
    help="Answer the first N requests with --status.",
)
@click.option(
    "--status", "fail_status", type=click.IntRange(100, 599), default=500, show_default=True
)
def receiver(port: int, fail: int, fail_status: int) -> None:
    """A local webhook receiver for demos: prints every request it gets."""
    from deltahook.delivery.receiver import Received, Receiver

    def show(request: Received) -> None:
        kind = request.headers.get("norce-event-type") or request.headers.get("webhook-event-type")
        signed = " signed" if "webhook-signature" in request.headers else ""
        out.print(
            f"{time.strftime('%H:%M:%S')} {request.message_id} {kind}{signed} "
            f"{request.body[:120].decode(errors='replace')}",
            markup=False,
            soft_wrap=True,
        )

    try:
        listening = Receiver(port=port)
    except OSError as exc:  # the port is taken, say
        raise click.ClickException(f"cannot listen on 127.0.0.1:{port}: {exc}") from None
    with listening as server:
        server.on_request = show
        server.fail(fail, status=fail_status)
        err.print(f"listening on {server.url} (Ctrl-C to stop)")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
