"""Delivery commands: deliver, subscriptions, log, resend, recover, purge, status, receiver.

Every command first syncs the config file's subscriptions into the store (see
``deltahook.delivery.subscriptions`` for how the file and ``enable``/``disable`` interact).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import sys
import uuid
from typing import TYPE_CHECKING, Any

import click
from rich.markup import escape
from rich.table import Table
from sqlalchemy import Engine

from deltahook import bootstrap
from deltahook.cli import stops
from deltahook.cli.app import EXIT_ERROR, State, err, friendly, main, out, print_json
from deltahook.clock import utc_now
from deltahook.delivery import journal, log
from deltahook.delivery import subscriptions as subs
from deltahook.delivery.envelope import event_categories
from deltahook.delivery.operational import client_id_of
from deltahook.errors import DeliveryError
from deltahook.store.db import reading
from deltahook.store.tables import WORKER_ID_LENGTH

if TYPE_CHECKING:
    from deltahook.delivery.dispatcher import Dispatcher


def open_store(state: State) -> Engine:
    """The database, with the config file's subscriptions synced into it."""
    return bootstrap.open_store(state.settings)


def worker_id() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@main.command()
@click.option("--once", is_flag=True, help="Deliver what is due now, then exit.")
@click.option("--worker-id", "worker", help="Name in leases and the log (default: host:pid).")
@click.option(
    "--metrics-port",
    type=click.IntRange(1, 65535),
    help="Serve Prometheus metrics (this process's counters, the queue) on this port.",
)
@click.option("--metrics-host", default="127.0.0.1", show_default=True, help="...and address.")
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="One line per failed attempt, circuit change and summary: as text or JSON.",
)
@click.option("--verbose", "-v", is_flag=True, help="With --once, log each failed attempt too.")
@click.pass_obj
@friendly
def deliver(
    state: State,
    once: bool,
    worker: str | None,
    metrics_port: int | None,
    metrics_host: str,
    log_format: str,
    verbose: bool,
) -> None:
    """Send due deliveries until stopped (Ctrl-C / SIGTERM / SIGHUP finish the requests in
    flight)."""
    if worker is not None:
        worker.encode()  # a name that is not UTF-8 is refused now, not by every heartbeat
        if not 0 < len(worker) <= WORKER_ID_LENGTH or not worker.isprintable():
            raise DeliveryError(
                f"--worker-id is a name of 1 to {WORKER_ID_LENGTH} printable characters"
            )
    db = open_store(state)
    # Failed attempts, circuit changes, summaries; a paused subscription (a ${VAR} unset) too.
    log_to_stderr(log_format, quiet=once and not verbose)
    if metrics_port is not None:
        _serve_metrics(db, host=metrics_host, port=metrics_port, log_format=log_format)
    with reading(db) as conn:
        enabled = [s for s in subs.load(conn) if s.enabled]
    from deltahook.delivery.dispatcher import Dispatcher, DispatcherOptions  # deliver only

    options = DispatcherOptions(
        worker_id=worker or worker_id(),
        allow_private=state.settings.allow_private_urls,
        client_id=client_id_of(state.settings.constants),
        categories=event_categories(state.settings.event_schemas_dir),
    )
    dispatcher = Dispatcher(db, options=options)
    if not once:
        names = [s.name for s in enabled]
        line = f"delivering as {options.worker_id} ({', '.join(names) or 'none enabled'})"
        fields = {"worker_id": options.worker_id, "subscriptions": names}
        _say(log_format, "started", f"{line}; Ctrl-C to stop", fields)
        now = utc_now()
        for sub in enabled:
            if (until := log.circuit_open_until(sub, now)) is not None:
                line = f"{sub.name}: circuit open until {until}, then one probe (see `status`)"
                fields = {"subscription": sub.name, "probe_at": until}
                _say(log_format, "circuit open", line, fields)
    asyncio.run(_run(dispatcher, once=once, log_format=log_format))  # its summary line ends the log
    if dispatcher.cut_short:  # what was due could not be had: the log said why
        sys.exit(EXIT_ERROR)


def _say(log_format: str, event: str, line: str, fields: dict[str, Any]) -> None:
    """A line about the process itself: plain text, or a JSON object where the log is JSON."""
    if log_format == "json":
        journal.process_line(event, line, fields)
    else:
        err.print(line, markup=False, soft_wrap=True)


def _serve_metrics(db: Engine, *, host: str, port: int, log_format: str) -> None:
    """Expose /metrics from a background thread of this process."""
    from prometheus_client import start_http_server

    from deltahook import telemetry

    try:
        start_http_server(port, addr=host, registry=telemetry.registry(db, utc_now))
    except OSError as exc:
        raise click.ClickException(f"cannot serve metrics on {host}:{port}: {exc}") from None
    url = f"http://{host}:{port}/metrics"
    _say(log_format, "metrics", f"metrics on {url}", {"url": url})


async def _run(dispatcher: Dispatcher, *, once: bool, log_format: str) -> Any:
    loop = asyncio.get_running_loop()
    requests = 0

    def on_signal() -> None:
        nonlocal requests
        requests += 1
        if requests == 1:
            line = "stopping: finishing the requests in flight (again to abandon them)"
            _say(log_format, "stopping", line, {})
            dispatcher.stop()
        else:
            dispatcher.cancel_in_flight()

    # A request made while the command started (recorded by ``stops``) is told first: the run
    # then stops before it claims anything. A hang-up (the terminal closed) stops it as
    # gracefully, unless it is ignored (nohup).
    signals = stops.stop_signals(hangup=True)
    with stops.watching(lambda: loop.call_soon_threadsafe(on_signal), signals, loop=loop):
        return await dispatcher.run(once=once)


class _Stderr(logging.Handler):
    """Writes to whatever ``sys.stderr`` is when a record comes (test runners swap it)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except Exception:
            self.handleError(record)


def log_to_stderr(log_format: str, *, quiet: bool) -> None:
    """The dispatcher's log on stderr; ``quiet``: only the summary and problems, not each
    failed attempt."""
    handler = _Stderr()
    handler.setFormatter(
        journal.JsonFormatter() if log_format == "json" else journal.TextFormatter()
    )
    logger = logging.getLogger("deltahook.delivery")
    for old in [h for h in logger.handlers if isinstance(h, _Stderr)]:
        logger.removeHandler(old)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    journal.outcomes.setLevel(logging.ERROR if quiet else logging.INFO)


@main.group()
def subscriptions() -> None:
    """List, switch on and off, and test subscriptions."""


@subscriptions.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
@friendly
def list_subscriptions(state: State, as_json: bool) -> None:
    """Every subscription: on/off, URL, event types (never its headers or secrets)."""
    with reading(open_store(state)) as conn:
        found = subs.load(conn)
    rows = [s.summary() for s in found]
    if as_json:
        print_json(rows)
        return
    table = Table("name", "on", "url", "event types", "signed", "source")
    for sub in found:
        table.add_row(
            sub.name,
            "on" if sub.enabled else "[dim]off[/]",
            escape(subs.shown_url(sub.url)),  # an IPv6 host's [...] is not markup
            ", ".join(sorted(sub.event_types)),
            "yes" if sub.secrets else "no",
            sub.source,
        )
    out.print(table)
    for sub in found:
        if not sub.enabled and sub.disabled_reason:
            out.print(f"{sub.name} switched off: {sub.disabled_reason}", markup=False)


@subscriptions.command("enable")
@click.argument("name")
@click.pass_obj
@friendly
def enable(state: State, name: str) -> None:
    """Switch NAME on: new notifications are queued for it again."""
    _switch(state, name, enabled=True)


@subscriptions.command("disable")
@click.argument("name")
@click.pass_obj
@friendly
def disable(state: State, name: str) -> None:
    """Switch NAME off: nothing new is queued; queued deliveries wait until it is back on."""
    _switch(state, name, enabled=False)


def _switch(state: State, name: str, *, enabled: bool) -> None:
    with open_store(state).begin() as conn:
        reason = subs.get(conn, name).disabled_reason
        already = subs.set_enabled(conn, name, enabled=enabled, now=utc_now())
    word = "on" if enabled else "off"
    out.print(f"{name} {'was already' if already else 'is now'} {word}")
    if enabled and not already and reason:
        out.print(
            f"it had been switched off: {reason}; `deltahook recover {name} --since ...` "
            "queues its failed deliveries again",
            markup=False,
            soft_wrap=True,
        )


@subscriptions.command("sync")
@click.pass_obj
@friendly
def sync(state: State) -> None:
    """Write the config file's subscriptions into the store (every command does this too)."""
    db = bootstrap.open_store(state.settings, sync_subscriptions=False)
    with db.begin() as conn:
        report = subs.sync(conn, state.settings.subscriptions, now=utc_now())
    changes = [f"{what}: {', '.join(names)}" for what, names in report.items() if names]
    out.print("; ".join(changes) or "subscriptions are up to date")


@subscriptions.command("test")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
@friendly
def test(state: State, name: str, as_json: bool) -> None:
    """Send a TestEvent to NAME now (on or off) and show the answer; nothing is stored."""
    from deltahook.delivery.testsend import send_test

    with reading(open_store(state)) as conn:
        sub = subs.get(conn, name)
    settings = state.settings
    report = asyncio.run(
        send_test(
            sub,
            constants=settings.constants,
            now=utc_now(),
            allow_private=settings.allow_private_urls,
        )
    )
    if as_json:
        print_json(report)
    else:
        code = report["status_code"] or report["error"]
        out.print(f"{name}: {code} in {report['duration_ms']:.0f} ms", soft_wrap=True)
        if report["response_excerpt"]:
            out.print(report["response_excerpt"], markup=False, soft_wrap=True)
    if not report["succeeded"]:
        sys.exit(EXIT_ERROR)
