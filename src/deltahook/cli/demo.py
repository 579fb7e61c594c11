"""``deltahook demo``: the sample feeds ingested twice, and what changed the second time."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import click
from rich.table import Table

from deltahook.cli.app import State, friendly, main, out
from deltahook.cli.feeds import print_summary
from deltahook.engine import Engine
from deltahook.pipeline import Mode, RunResult

SHIPPED_FIXTURES = Path(__file__).resolve().parents[3] / "fixtures"

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
)


@main.command()
@click.option(
    "--fixtures",
    "folder",
    type=click.Path(path_type=Path, file_okay=False),
    default=lambda: SHIPPED_FIXTURES,
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
    """Ingest the sample feeds (v1, then v2) into a fresh SQLite file and show what changed."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    settings = state.settings.model_copy(update={"database_url": f"sqlite:///{database}"})
    with Engine.from_settings(settings) as engine:
        for version in ("v1", "v2"):
            out.rule(f"[bold]{version}[/]: {folder / version}")
            results = [
                _ingest(engine, folder / version / name, kind, mode, version)
                for kind, name, mode in DEMO_FEEDS
            ]
        out.print(_changes_table(results))
    out.print(
        f"Snapshots are in {database}; try `deltahook --database-url sqlite:///{database} "
        "ingest sku fixtures/v2/sku.ndjson --json`."
    )


def _ingest(engine: Engine, path: Path, kind: str, mode: Mode, version: str) -> RunResult:
    started = time.perf_counter()
    result = engine.ingest(kind, path, mode=mode if version == "v2" else "upsert", collect=True)
    print_summary(result, time.perf_counter() - started)
    return result


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
