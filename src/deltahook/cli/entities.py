"""``deltahook show``: read back what the store holds for one entity; rebuild-references."""

from __future__ import annotations

from typing import Any

import click
import orjson

from deltahook.changes.canonical import no_entity_message
from deltahook.cli.app import State, friendly, main, out, print_json
from deltahook.errors import DeltahookError


@main.command()
@click.argument("kind")
@click.argument("key")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
@friendly
def show(state: State, kind: str, key: str, as_json: bool) -> None:
    """Show the stored entity KEY of KIND (a composite key's parts joined by |, and a | or \\
    within a part written \\| or \\\\): its snapshot, version, times, the job that last wrote
    it and its recent notifications."""
    from deltahook.engine import Engine

    with Engine.from_settings(state.settings) as engine:
        found = engine.snapshot(kind, key)
    if found is None:
        raise DeltahookError(no_entity_message(engine.catalog[kind], key))
    shown = found.to_json()
    if as_json:
        print_json(shown)
        return
    for line in _lines(shown):
        out.print(line, soft_wrap=True, markup=False)


@main.command("rebuild-references")
@click.argument("kind", required=False)
@click.pass_obj
@friendly
def rebuild_references(state: State, kind: str | None) -> None:
    """Write the references between entities (a SKU's manufacturer and categories) again from
    the stored snapshots of KIND (default: every kind that declares some). Needed once for
    snapshots stored before references were kept; related-entity fan-out reads them."""
    from deltahook.engine import Engine

    with Engine.from_settings(state.settings) as engine:
        done = engine.rebuild_references(kind)
    for name, (read, written) in done.items():
        out.print(f"{name}: {_many(read, 'entity', 'entities')}, {_many(written, 'reference')}")


def _many(n: int, one: str, more: str | None = None) -> str:
    return f"{n:,} {one if n == 1 else more or one + 's'}"


def _lines(shown: dict[str, Any]) -> list[str]:
    job = shown["last_job"]
    created, updated = _when(shown["created_at"]), _when(shown["updated_at"])
    lines = [
        f"{shown['kind']} {shown['key']}: version {shown['version']}, created {created}, "
        f"updated {updated}"
    ]
    if job is not None:
        baseline = ", baseline" if job["baseline"] else ""
        lines.append(f"last job {job['job_id']} ({job['mode']}{baseline}, {job['status']})")
    body = orjson.dumps(shown["snapshot"], option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
    lines.append(body.decode())
    lines.append(f"notifications ({len(shown['notifications'])} most recent):")
    for n in shown["notifications"]:
        sent = ", ".join(f"{d['subscription']} {d['status']}" for d in n["deliveries"]) or "none"
        lines.append(f"  {_when(n['created_at'])} {n['type']} {n['id']} (deliveries: {sent})")
    return lines


def _when(value: Any) -> str:
    return str(value.isoformat(timespec="seconds").replace("+00:00", "Z"))
