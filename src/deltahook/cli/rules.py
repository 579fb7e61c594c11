"""Rules and event types at the command line: the ``rules`` group, preview, list types, emit
events. ``rules check`` and ``rules test`` are in rulescheck.py.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from deltahook.cli.app import State, err, exit_for, friendly, main, out, print_json
from deltahook.errors import FeedError
from deltahook.feeds import values
from deltahook.feeds.readers import FORMATS
from deltahook.results import MODES, Mode, RunResult
from deltahook.rules.explain import miss_text, summary

SHOWN = 200  # rows of a table before '... and N more'


@main.group()
def rules() -> None:
    """Check and test the Event Settings rules (rules/*.yaml)."""


@main.command()
@click.argument("kind")
@click.argument("feed", required=False, type=click.Path(path_type=Path, dir_okay=False))
@click.option("--before", type=click.Path(path_type=Path, dir_okay=False), help="Entity before.")
@click.option("--after", type=click.Path(path_type=Path, dir_okay=False), help="Entity after.")
@click.option(
    "--base",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Preview FEED against this feed (format from its name) instead of the store.",
)
@click.option("--mode", type=click.Choice(MODES), default="upsert", show_default=True)
@click.option("--max-remove", metavar="LIMIT", help="Full feeds: as for ingest.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), help="Feed format.")
@click.option("--explain", is_flag=True, help="Also show the near misses.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@click.pass_obj
@friendly
def preview(
    state: State,
    kind: str,
    feed: Path | None,
    before: Path | None,
    after: Path | None,
    base: Path | None,
    mode: Mode,
    max_remove: str | None,
    fmt: str | None,
    explain: bool,
    as_json: bool,
) -> None:
    """Show what ingesting FEED of KIND would notify, and why; writes nothing.

    Or, with --after (and --before, unless the entity is new), what changing one entity
    would notify, whatever the store holds. With --base, what FEED would notify after the
    feed BASE, whatever the store holds. Exits as the ingest would: 3 when records were
    rejected, 4 when a full feed's sweep would not run.
    """
    from deltahook.engine import Engine

    if (feed is None) == (after is None):
        raise FeedError("give either a FEED file or --after (with --before for a change)")
    if base is not None and feed is None:
        raise FeedError("--base goes with a FEED file, not with --before/--after")
    with Engine.from_settings(state.settings) as engine:
        if after is not None:
            result = engine.preview_pair(
                kind,
                before=_read_object(before) if before is not None else None,
                after=_read_object(after),
                explain=explain,
            )
        elif base is not None:
            assert feed is not None
            result = engine.preview_against(
                kind, feed, base=base, mode=mode, fmt=fmt, explain=explain, max_remove=max_remove
            )
        else:
            assert feed is not None
            result = engine.preview(
                kind, feed, mode=mode, fmt=fmt, explain=explain, max_remove=max_remove
            )
    if as_json:
        print_json(preview_json(result))
    else:
        _print_preview(result, explain=explain)
    exit_for(result, preview=True)  # the exit codes an ingest of the feed would give


def preview_json(result: RunResult) -> dict[str, Any]:
    return {
        "kind": result.kind,
        "mode": result.mode,
        "counts": result.counts.as_dict(),
        "notifications": [n.to_json() for n in result.notifications],
        "near_misses": result.near_misses,
        "changes": [c.to_json() for c in result.changes],
        "rejects": [r.to_json() for r in result.rejects],
        "notices": result.notices,
        "sweep": result.sweep,
        "unkeyed_lines": result.unkeyed_lines,
    }


def _print_preview(result: RunResult, *, explain: bool) -> None:
    c = result.counts
    out.print(
        f"[bold]{result.kind}[/] preview: {c.received:,} records · {c.unchanged:,} unchanged · "
        f"{c.inserted:,} new · {c.updated:,} changed · {c.deleted:,} deleted · "
        f"[bold]{c.notifications:,} notification(s) would fire[/]",
        soft_wrap=True,
    )
    if result.notifications:
        table = Table("type", "payload", "why", show_lines=True)
        for n in result.notifications[:SHOWN]:
            # payloads and explanations quote the feed: printed as text, never as markup
            table.add_row(
                escape(n.type),
                escape(_payload_lines(n.payload)),
                escape(summary(dict(n.explanation))),
            )
        out.print(table)
        if len(result.notifications) > SHOWN:
            out.print(f"... and {len(result.notifications) - SHOWN:,} more (see --json)")
    if explain:
        _print_near_misses(result.near_misses)
    for notice in result.notices[:20]:
        out.print(f"  [yellow]note:[/] {notice}", soft_wrap=True, markup=False)
    for reject in result.rejects[:50]:
        err.print(f"  [red]rejected[/] {escape(str(reject))}", soft_wrap=True)


def _payload_lines(payload: Mapping[str, Any]) -> str:
    """``Name=value`` lines, leaving out the ids every payload of the project shares."""
    shown = [f"{k}={v}" for k, v in payload.items() if k not in {"ClientId", "ApplicationId"}]
    return "\n".join(shown)


def _print_near_misses(misses: list[dict[str, Any]]) -> None:
    if not misses:
        out.print("no near misses")
        return
    table = Table("setting", "row", "said no because", title="near misses", show_lines=True)
    for miss in misses[:SHOWN]:
        row = f"{miss['op']} {miss['table']} {miss['entity']}"
        table.add_row(escape(miss["setting"]), escape(row), escape(miss_text(miss)))
    out.print(table)
    if len(misses) > SHOWN:
        out.print(f"... and {len(misses) - SHOWN:,} more (see --json)")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
@friendly
def types(state: State, as_json: bool) -> None:
    """List the event types: category, family, and which rules and subscriptions use them."""
    from deltahook.type_usage import type_usage

    rows = type_usage(state.settings)
    if as_json:
        print_json(rows)
        return
    table = Table("type", "family", "category", "rules", "subscriptions")
    for row in rows:
        table.add_row(
            row["type"],
            row["family"],
            row["category"],
            ", ".join(uid.split("/", 1)[1] for uid in row["settings"]) or "-",
            ", ".join(row["subscriptions"]) or "-",
        )
    out.print(table)


@main.command()
@click.argument("event_type", required=False)
@click.option("--kind", help="Show an entity kind's tables, keys, fields and references.")
@click.option("--json", "as_json", is_flag=True, help="With --kind: print JSON.")
@click.pass_obj
@friendly
def schema(state: State, event_type: str | None, kind: str | None, as_json: bool) -> None:
    """Print the JSON Schema of EVENT_TYPE's payload, or describe an entity kind (--kind)."""
    from deltahook.catalog.events import load_event_catalog

    if (event_type is None) == (kind is None):
        raise click.UsageError("name an EVENT_TYPE or --kind KIND (one of them)")
    if kind is not None:
        _describe(state, kind, as_json=as_json)
        return
    events = load_event_catalog(state.settings.event_schemas_dir)
    print_json(dict(events.require(event_type or "").schema))


def _describe(state: State, kind: str, *, as_json: bool) -> None:
    from deltahook.catalog.describe import describe_kind, describe_text
    from deltahook.catalog.entities import load_catalog

    described = describe_kind(load_catalog(state.settings.entity_schemas_dir), kind)
    if as_json:
        print_json(described)
        return
    for line in describe_text(described):
        out.print(escape(line))


@main.command()
@click.argument("event_type")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, allow_dash=True))
@click.option("--idempotency-key", help="Record the event once, however often it is sent.")
@click.option("--json", "as_json", is_flag=True, help="Print the recorded event as JSON.")
@click.pass_obj
@friendly
def emit(
    state: State, event_type: str, file: Path, idempotency_key: str | None, as_json: bool
) -> None:
    """Validate the EVENT_TYPE payload in FILE (JSON; - for stdin) and record it for delivery.

    ClientId and ApplicationId default to the project constants.
    """
    from deltahook.engine import Engine

    payload = _read_object(file)
    with Engine.from_settings(state.settings) as engine:
        emitted = engine.emit(event_type, payload, idempotency_key=idempotency_key)
        event, deliveries = emitted.event, emitted.deliveries
    if as_json:
        print_json(event.to_json() | {"deliveries": deliveries})
        return
    out.print(f"recorded {event.type} {event.id} · {deliveries} delivery(ies) queued")


def _read_object(path: Path) -> dict[str, Any]:
    try:
        data = sys.stdin.buffer.read() if str(path) == "-" else path.read_bytes()
    except OSError as exc:
        raise FeedError(f"cannot read {path}: {exc.strerror}") from exc
    try:  # read as feeds are, so the pipeline rejects NaN or a wide integer as in a feed
        value = values.loads(data.decode("utf-8-sig", "surrogateescape"))
    except RecursionError:
        raise FeedError(f"{path}: {values.DEEP}") from None
    except ValueError as exc:
        raise FeedError(f"{path}: not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise FeedError(f"{path}: expected one JSON object")
    return value
