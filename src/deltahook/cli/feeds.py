"""``deltahook ingest``: a feed in, a summary (or one JSON document) out."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import orjson

from deltahook import gcpolicy
from deltahook.cli.app import (
    State,
    console,
    err,
    exit_for,
    feed_source,
    finished,
    friendly,
    main,
    out,
    print_json,
    print_rejects,
)
from deltahook.feeds.readers import FORMATS
from deltahook.results import MODES, Mode, RunResult

if TYPE_CHECKING:
    from rich.progress import Progress


@main.command()
@click.argument("kind")
@click.argument("feed", type=click.Path(path_type=Path, dir_okay=False, allow_dash=True))
@click.option(
    "--mode",
    type=click.Choice(MODES),
    default="upsert",
    show_default=True,
    help="upsert: records are whole; merge: absent fields keep their value; "
    "full: stored entities of the feed's scope missing from it are deactivated or deleted, "
    "as the kind declares.",
)
@click.option(
    "--max-remove",
    metavar="LIMIT",
    help="Full feeds: refuse (exit 1, nothing deactivated or deleted) a feed that would take "
    "more of its scope than this count (500) or percentage (10%; at least one entity unless "
    "the feed is empty; 10% or 5: at least 5). Default: the kind's max_remove in the config, "
    "else 10%.",
)
@click.option(
    "--format", "fmt", type=click.Choice(FORMATS), help="Feed format (default: from the file name)."
)
@click.option(
    "--baseline",
    is_flag=True,
    help="Store the snapshots and rule state as an ingest would, and decide and queue no "
    "notification: seed a new environment or kind, or re-seed after restoring a backup.",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the summary as JSON: counts, rejects, job id, timing.",
)
@click.option(
    "--changes",
    is_flag=True,
    help="Print JSON lines: each row change and notification as its batch commits, then the "
    'summary ({"summary": ...}) last; memory stays flat however large the feed.',
)
@click.pass_obj
@friendly
def ingest(
    state: State,
    kind: str,
    feed: Path,
    mode: Mode,
    max_remove: str | None,
    fmt: str | None,
    baseline: bool,
    as_json: bool,
    changes: bool,
) -> None:
    """Ingest FEED (a file, or - for standard input) of entity KIND."""
    source = feed_source(feed)
    with gcpolicy.starting():  # the engine lives to the end: no collections while it is built
        from deltahook.engine import Engine

        started = time.perf_counter()
        engine = Engine.from_settings(state.settings)
    with engine, _progress(feed, enabled=not (as_json or changes)) as advance:
        result = engine.ingest(
            kind,
            source,
            mode=mode,
            fmt=fmt,
            collect=changes,
            progress=advance,
            max_remove=max_remove,
            baseline=baseline,
            on_batch=_stream if changes else None,
        )
    elapsed = time.perf_counter() - started
    if changes:
        _line({"summary": result_json(result, elapsed)})
        sys.stdout.flush()
    elif as_json:
        print_json(result_json(result, elapsed))
    else:
        print_summary(result, elapsed)
    finished()  # the store is closed and the summary written: no teardown needed
    exit_for(result)


def result_json(result: RunResult, elapsed: float) -> dict[str, Any]:
    return {
        "job_id": result.job_id,
        "kind": result.kind,
        "mode": result.mode,
        "status": result.status,  # as the job is stored
        "baseline": result.baseline,
        "counts": result.counts.as_dict(),
        "elapsed_s": round(elapsed, 3),
        "rejects": [r.to_json() for r in result.rejects],
        "notices": result.notices,
        "sweep": result.sweep,
        "unkeyed_lines": result.unkeyed_lines,
    }


def _stream(batch: RunResult) -> None:
    """A committed batch's row changes and notifications, one JSON line each."""
    for change in batch.changes:
        _line({"change": change.to_json()})
    for notification in batch.notifications:
        _line({"notification": notification.to_json()})


def _line(data: Any) -> None:
    sys.stdout.buffer.write(orjson.dumps(data, default=str) + b"\n")


def print_summary(result: RunResult, elapsed: float) -> None:
    from rich.markup import escape

    c = result.counts
    rate = c.received / elapsed if elapsed > 0 else 0.0
    mode = f"{result.mode}, baseline" if result.baseline else result.mode
    queued = f" · deliveries {c.deliveries:,}" if c.deliveries else ""  # none: no subscriber
    out.print(
        f"[bold]{result.kind}[/] ({mode}): received {c.received:,} · rejected {c.rejected:,}"
        f" · unchanged {c.unchanged:,} · inserted {c.inserted:,} · updated {c.updated:,}"
        f" · deleted {c.deleted:,} · notifications {c.notifications:,}{queued}"
        f" · {elapsed:.2f} s · {rate:,.0f}/s",
        soft_wrap=True,
    )
    for notice in result.notices[:20]:
        out.print(f"  [yellow]note:[/] {escape(notice)}")
    print_rejects(result.rejects, count=c.rejected, see=" (see --json)")


class _progress:
    """A progress bar on a terminal (records done, by feed size); nothing otherwise."""

    def __init__(self, feed: Path, *, enabled: bool) -> None:
        self.enabled = enabled and str(feed) != "-" and _may_be_terminal() and err.is_terminal
        self.progress: Progress | None = None
        self.feed = feed
        self.records = 0

    def __enter__(self) -> Any:
        if not self.enabled:
            return None
        from rich.progress import (  # only on a terminal: piped and scripted runs never draw
            BarColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        progress = self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[records]:,} records"),
            TimeElapsedColumn(),
            console=console(stderr=True),
            transient=True,
        )
        progress.start()
        task = progress.add_task(f"ingest {self.feed.name}", total=None, records=0)

        def advance(count: int) -> None:
            self.records += count
            progress.update(task, records=self.records)

        return advance

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()


def _may_be_terminal() -> bool:
    """False when rich would surely not call standard error a terminal: it is no TTY and no
    variable rich reads to decide otherwise is set. Asking rich (``err.is_terminal``) makes the
    console, and imports rich (about 20 ms of CPU), before the feed is read."""
    if "FORCE_COLOR" in os.environ or "TTY_COMPATIBLE" in os.environ:
        return True
    try:
        return sys.stderr is not None and sys.stderr.isatty()
    except ValueError:  # closed: rich says no terminal too
        return False
