"""``deltahook demo``: the whole story on the sample feeds, with a local receiver.

v1 of every fixture feed goes into a fresh SQLite file; a local receiver starts and is
subscribed to every type; v2 goes in, and what changed becomes notifications and deliveries;
one dispatcher pass delivers them; the log shows what the receiver got.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from pathlib import Path

import click
from rich.table import Table

from deltahook.cli.app import State, friendly, main, out
from deltahook.cli.feeds import print_summary
from deltahook.config import shipped
from deltahook.delivery import log, managed
from deltahook.delivery.dispatcher import Dispatcher, DispatcherOptions
from deltahook.delivery.receiver import Receiver
from deltahook.delivery.signing import generate_secret
from deltahook.engine import Engine
from deltahook.results import Mode, RunResult
from deltahook.store.db import reading

# Parents before children; the second version of the stock feed is a full feed.
DEMO_FEEDS: tuple[tuple[str, str, Mode], ...] = (
    ("sku", "sku.ndjson", "upsert"),
    ("sku_price", "sku_price.ndjson", "upsert"),
    ("sku_onhand", "sku_onhand.ndjson", "full"),
    ("customer", "customer.json", "upsert"),
    ("company", "company.ndjson", "upsert"),
    ("supplier_sku", "supplier_sku.ndjson", "upsert"),
    ("supplier_sku_price", "supplier_sku_price.ndjson", "upsert"),
    ("supplier_sku_onhand", "supplier_sku_onhand.ndjson", "upsert"),
    ("manufacturer", "manufacturer.ndjson", "upsert"),
    ("category", "category.ndjson", "upsert"),
    ("price_list", "price_list.ndjson", "upsert"),
    ("account", "account.ndjson", "upsert"),
)


@main.command()
@click.option(
    "--fixtures",
    "folder",
    type=click.Path(path_type=Path, file_okay=False),
    default=lambda: shipped("fixtures"),
    show_default="the shipped fixtures/",
    help="Folder with v1/ and v2/ sample feeds.",
)
@click.option(
    "--database",
    type=click.Path(path_type=Path, dir_okay=False),
    default=Path(".deltahook/demo.db"),
    show_default=True,
    help="SQLite file for the demo (started afresh).",
)
@click.pass_obj
@friendly
def demo(state: State, folder: Path, database: Path) -> None:
    """The sample feeds (v1, then v2) into a fresh SQLite file, delivered to a local receiver."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    base = state.settings.model_copy(update={"database_url": f"sqlite:///{database}"})
    out.rule(f"[bold]v1[/]: {folder / 'v1'} (first sight of every entity)")
    with Engine.from_settings(base) as engine:
        _ingest_all(engine, folder / "v1", first=True)
    with Receiver() as receiver:
        settings = base.model_copy(update={"allow_private_urls": True})
        out.rule(f"[bold]v2[/]: {folder / 'v2'}, a local receiver subscribed at {receiver.url}")
        with Engine.from_settings(settings) as engine:
            _subscribe(engine, receiver.url)
            results = _ingest_all(engine, folder / "v2", first=False)
            out.print(_changes_table(results))
            _deliver(engine)
            _show_log(engine, len(receiver.requests))
    url = f"sqlite:///{database}"
    out.print(
        f"The store is {database}; look around with `deltahook --database-url {url} log "
        "--attempts` or `... status`.",
        soft_wrap=True,
    )
    out.print(
        "Open it in the console: `DELTAHOOK_API_KEYS=<any key of 16+ characters> deltahook "
        f"--database-url {url} serve`, then http://127.0.0.1:8080/admin/ and sign in with "
        "that key. Its subscription demo-receiver stays on, at the receiver this demo stopped.",
        soft_wrap=True,
    )


def _ingest_all(engine: Engine, folder: Path, *, first: bool) -> list[RunResult]:
    results = []
    for kind, name, mode in DEMO_FEEDS:
        started = time.perf_counter()
        result = engine.ingest(
            kind, folder / name, mode="upsert" if first else mode, collect=not first
        )
        print_summary(result, time.perf_counter() - started)
        results.append(result)
    return results


def _subscribe(engine: Engine, url: str) -> None:
    """One signed subscription to every type, at the local receiver, made in the store as the
    API makes one (not in a config file): the console, opened on the demo's store alone,
    shows it and what it received, and can point it at another URL."""
    settings = managed.validated(
        {
            "name": "demo-receiver",
            "url": url,
            "event_types": ["*"],
            "secrets": [generate_secret(os.urandom(32))],
        },
        allow_private=True,
    )
    with engine.db.begin() as conn:
        managed.create(conn, settings, declared=frozenset(), now=engine.clock())


def _deliver(engine: Engine) -> None:
    dispatcher = Dispatcher(
        engine.db, options=DispatcherOptions(worker_id="demo", allow_private=True)
    )
    stats = asyncio.run(dispatcher.run(once=True))
    out.print(
        f"[bold]deliver --once[/]: {stats.attempts:,} attempts, {stats.delivered:,} "
        f"delivered, {stats.retrying:,} to retry, {stats.dead:,} dead"
    )


def _show_log(engine: Engine, received: int) -> None:
    with reading(engine.db) as conn:
        rows = log.entries(conn, log.LogFilter(limit=1000), now=engine.clock())
    by_type = Counter(row["event_type"] for row in rows)
    table = Table(title=f"The delivery log: the receiver got {received:,} signed requests")
    for column in ("event type", "deliveries", "status"):
        table.add_column(column)
    for event_type, count in sorted(by_type.items()):
        statuses = Counter(row["status"] for row in rows if row["event_type"] == event_type)
        table.add_row(event_type, str(count), ", ".join(f"{s} {n}" for s, n in statuses.items()))
    out.print(table)


def _changes_table(results: list[RunResult]) -> Table:
    table = Table(title="What changed in v2 (row changes by table)")
    for column in ("kind", "table", "insert", "update", "delete", "fields changed"):
        table.add_column(
            column, justify="right" if column in {"insert", "update", "delete"} else "left"
        )
    for result in results:
        ops: dict[str, Counter[str]] = {}
        fields: dict[str, Counter[str]] = {}
        for change in result.changes:
            for row in change.rows:
                ops.setdefault(row.table, Counter())[row.op.value] += 1
                if row.op.value == "update":
                    fields.setdefault(row.table, Counter()).update(row.changed())
        for name, counts in sorted(ops.items()):
            top = ", ".join(f"{f} ({n})" for f, n in fields.get(name, Counter()).most_common(4))
            table.add_row(
                result.kind,
                name,
                str(counts["insert"]),
                str(counts["update"]),
                str(counts["delete"]),
                top,
            )
    return table
