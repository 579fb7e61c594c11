"""``deltahook rules diff``: what a rule change would add, remove or alter, for review and CI."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from functools import partial, wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from rich.markup import escape
from rich.table import Table

from deltahook.cli.app import (
    SHOWN,
    State,
    err,
    error_message,
    out,
    payload_lines,
    print_json,
    print_rejects,
    read_object,
)
from deltahook.cli.rules import rules
from deltahook.errors import FeedError, RuleError
from deltahook.results import MODES, Mode

if TYPE_CHECKING:
    from deltahook.engine import Engine
    from deltahook.feeds.readers import Reject
    from deltahook.notifications import Notification
    from deltahook.rulediff import RuleDiff
    from deltahook.rules.model import RuleSet

F = TypeVar("F", bound=Callable[..., Any])

EXIT_SAME = 0
EXIT_DIFFERS = 1
EXIT_BAD_INPUT = 2  # as click's usage errors
FEED_SUFFIXES = (".ndjson", ".jsonl", ".json", ".csv")
MAX_JOBS = 1_000_000  # --jobs: the last N ingest jobs replayed


def bad_input_exits_2(func: F) -> F:
    """A user's mistake is one line (every problem of a rule set) and exit 2, so exit 1 stays
    "the rule sets differ"."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except RuleError as exc:
            for problem in exc.problems or [exc]:
                err.print(str(problem), style="red", soft_wrap=True, markup=False)
            sys.exit(EXIT_BAD_INPUT)
        except Exception as exc:
            if (message := error_message(exc)) is None:
                raise
            err.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
            sys.exit(EXIT_BAD_INPUT)

    return wrapper  # type: ignore[return-value]


@rules.command("diff")
@click.argument("old_dir", type=click.Path(path_type=Path, exists=True))
@click.argument("new_dir", type=click.Path(path_type=Path, exists=True))
@click.option(
    "--feed",
    "feeds",
    multiple=True,
    type=click.Path(path_type=Path),
    help="A feed previewed against the stored snapshots, or a folder of them (KIND.ndjson ...).",
)
@click.option("--kind", help="The kind of --feed or --after (default: the feed file's name).")
@click.option("--before", type=click.Path(path_type=Path, dir_okay=False), help="Entity before.")
@click.option("--after", type=click.Path(path_type=Path, dir_okay=False), help="Entity after.")
@click.option("--jobs", type=int, help="Replay the row changes of the last N ingest jobs.")
@click.option("--since", metavar="AGE", help="Replay the row changes of the last AGE (24h, 7d).")
@click.option("--mode", type=click.Choice(MODES), default="upsert", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@click.pass_obj
@bad_input_exits_2
def diff(
    state: State,
    old_dir: Path,
    new_dir: Path,
    feeds: tuple[Path, ...],
    kind: str | None,
    before: Path | None,
    after: Path | None,
    jobs: int | None,
    since: str | None,
    mode: Mode,
    as_json: bool,
) -> None:
    """Run the rules of OLD_DIR and of NEW_DIR over the same input and show what NEW_DIR would
    notify differently: added, removed, altered (exit 1), or nothing (exit 0); bad input: 2.

    The input: --feed files (previewed against the stored snapshots; nothing is written),
    one entity --before/--after (with --kind), or the recent past replayed from the store's
    change log: --jobs N or --since AGE.
    """
    from deltahook.engine import Engine
    from deltahook.rulediff import diff_runs

    if [bool(feeds), after is not None, jobs is not None, since is not None].count(True) != 1:
        raise click.UsageError("give one input: --feed, --after, --jobs or --since")
    settings = state.settings.model_copy(update={"rules_dir": old_dir})
    rejected: dict[Path, list[Reject]] = {}  # per feed: its records left out of the diff
    with Engine.from_settings(settings) as engine:
        new_rules = _load(engine, new_dir)
        if after is not None:
            runs = [_pair_run(engine, kind, before, after)]
        elif feeds:
            runs = [
                partial(_preview, kind=k, feed=f, mode=mode, rejected=rejected)
                for k, f in _feeds(engine, feeds, kind)
            ]
        else:
            runs = [_replay_run(engine, jobs, since)]
        found = diff_runs(engine, new_rules, runs)
    _print_rejected(rejected)
    if as_json:
        print_json(found.to_json())
    else:
        _print(found)
    sys.exit(EXIT_DIFFERS if found.entries else EXIT_SAME)


def _load(engine: Engine, folder: Path) -> RuleSet:
    from deltahook.catalog.events import load_event_catalog
    from deltahook.rules.loader import load_rules

    settings = engine.settings
    return load_rules(
        folder,
        catalog=engine.catalog,
        events=engine.events or load_event_catalog(settings.event_schemas_dir),
        constants=settings.constants,
    )


def _preview(
    engine: Engine, *, kind: str, feed: Path, mode: Mode, rejected: dict[Path, list[Reject]]
) -> list[Notification]:
    result = engine.preview(kind, feed, mode=mode)
    rejected[feed] = result.rejects  # the same for either rule set
    return result.notifications


def _print_rejected(rejected: dict[Path, list[Reject]]) -> None:
    """Name the records a feed had rejected: the diff says nothing of them."""
    for feed, rejects in rejected.items():
        if not rejects:
            continue
        err.print(
            f"[yellow]note:[/] {escape(str(feed))}: {len(rejects):,} record(s) rejected, "
            "left out of the diff",
            soft_wrap=True,
        )
        print_rejects(rejects, count=len(rejects))


def _replay_run(
    engine: Engine, jobs: int | None, since: str | None
) -> Callable[[Engine], list[Notification]]:
    from deltahook import replay
    from deltahook.delivery.log import parse_age

    start = engine.clock() - parse_age(since) if since is not None else None
    if jobs is not None and not 1 <= jobs <= MAX_JOBS:  # past it, no store holds the count
        raise FeedError(f"--jobs must be from 1 to {MAX_JOBS:,}")
    return lambda each: replay.notifications(each, last_jobs=jobs, since=start)


def _pair_run(
    engine: Engine, kind: str | None, before: Path | None, after: Path
) -> Callable[[Engine], list[Notification]]:
    if kind is None:
        raise click.UsageError("--after needs --kind")
    old = read_object(before) if before is not None else None
    new = read_object(after)
    return lambda each: each.preview_pair(kind, before=old, after=new).notifications


def _feeds(engine: Engine, paths: tuple[Path, ...], kind: str | None) -> Iterator[tuple[str, Path]]:
    """(kind, feed) per feed: a folder gives its files named after a kind."""
    kinds = {k.name for k in engine.catalog}
    for path in paths:
        if path.is_dir():
            for each in sorted(path.iterdir()):
                if each.suffix in FEED_SUFFIXES and each.stem in kinds:
                    yield each.stem, each
            continue
        if not path.is_file():
            raise FeedError(f"{path}: no such feed file or folder")
        named = kind or path.stem
        if named not in kinds:
            raise FeedError(f"{path}: name the kind with --kind (the file name is no kind)")
        yield named, path


def _print(found: RuleDiff) -> None:
    c = found.counts()
    if not found.entries:
        out.print(f"no differences ({c['unchanged']:,} notification(s) the same)")
        return
    table = Table("change", "type", "entity", "payload difference", "setting", show_lines=True)
    for entry in found.entries[:SHOWN]:
        fields = entry.payload_diff if entry.change == "altered" else {}
        lines = [f"{name}: {_side(d, 'old')} → {_side(d, 'new')}" for name, d in fields.items()]
        # payloads quote the feed: printed as text, never as markup
        table.add_row(
            entry.change,
            escape(entry.type),
            escape(f"{entry.entity_kind} {entry.entity_key}"),
            escape("\n".join(lines) or _payload(entry)),
            escape("\n".join(entry.settings)),
        )
    out.print(table)
    if len(found.entries) > SHOWN:
        out.print(f"... and {len(found.entries) - SHOWN:,} more (see --json)")
    out.print(
        f"{c['added']:,} added · {c['removed']:,} removed · {c['altered']:,} altered · "
        f"{c['unchanged']:,} the same"
    )


def _side(diff: dict[str, Any], side: str) -> str:
    return repr(diff[side]) if side in diff else "(none)"


def _payload(entry: Any) -> str:
    return payload_lines(entry.payload_new or entry.payload_old or {})
