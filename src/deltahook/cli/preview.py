"""``deltahook preview``: what ingesting a feed (or changing one entity) would notify, and why.

The command and its printing (a summary line, the notifications with their reasons, the near
misses with ``--explain``) are separate from the ``rules`` group: a preview runs the engine on
a feed, where ``rules`` checks and tests rule files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from deltahook.cli.app import (
    SHOWN,
    State,
    exit_for,
    feed_source,
    friendly,
    main,
    out,
    payload_lines,
    print_json,
    print_rejects,
    read_object,
)
from deltahook.errors import FeedError
from deltahook.feeds.readers import FORMATS
from deltahook.results import MODES, Mode, RunResult
from deltahook.rules.explain import miss_text, summary


@main.command()
@click.argument("kind")
@click.argument(
    "feed", required=False, type=click.Path(path_type=Path, dir_okay=False, allow_dash=True)
)
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
    """Show what ingesting FEED (a file, or - for standard input) of KIND would notify, and
    why; writes nothing.

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
    if base is not None and str(base) == "-":
        raise FeedError("--base reads a file (its format from its name), not standard input")
    source = feed_source(feed) if feed is not None else None
    with Engine.from_settings(state.settings) as engine:
        if after is not None:
            result = engine.preview_pair(
                kind,
                before=read_object(before) if before is not None else None,
                after=read_object(after),
                explain=explain,
            )
        elif base is not None:
            assert source is not None
            result = engine.preview_against(
                kind, source, base=base, mode=mode, fmt=fmt, explain=explain, max_remove=max_remove
            )
        else:
            assert source is not None
            result = engine.preview(
                kind, source, mode=mode, fmt=fmt, explain=explain, max_remove=max_remove
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
                escape(payload_lines(n.payload)),
                escape(summary(dict(n.explanation))),
            )
        out.print(table)
        if len(result.notifications) > SHOWN:
            out.print(f"... and {len(result.notifications) - SHOWN:,} more (see --json)")
    if explain:
        _print_near_misses(result.near_misses)
    for notice in result.notices[:20]:
        out.print(f"  [yellow]note:[/] {escape(notice)}", soft_wrap=True)
    print_rejects(result.rejects)


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
