"""Event types at the command line: ``types`` lists them and who uses them, ``schema`` prints
a payload's JSON Schema (or describes an entity kind), ``emit`` records an event by hand.

They read the catalogs (and, for ``emit``, write to the outbox) without running rules on a
feed, so they live apart from ``preview`` and from the ``rules`` group.
"""

from __future__ import annotations

from pathlib import Path

import click
from rich.markup import escape
from rich.table import Table

from deltahook.cli.app import State, friendly, main, out, print_json, read_object


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

    payload = read_object(file)
    with Engine.from_settings(state.settings) as engine:
        emitted = engine.emit(event_type, payload, idempotency_key=idempotency_key)
        event, deliveries = emitted.event, emitted.deliveries
    if as_json:
        print_json(event.to_json() | {"deliveries": deliveries})
        return
    out.print(f"recorded {event.type} {event.id} · {deliveries} delivery(ies) queued")
