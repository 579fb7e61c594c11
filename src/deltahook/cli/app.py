"""The command group, the shared options, input and output, the one place user errors become
one line, and how the process ends.

Tearing the interpreter down after an ingest (freeing every module, class and object one by
one, with full garbage collections on the way) costs about a tenth of the CPU of a nightly
100k-SKU ingest and changes nothing a user can see. A command that has closed its store and
written its output calls ``finished()``; ``run``, the process's entry point, then ends the
process as Python would (exit handlers run, standard streams flushed, the same exit code) with
``os._exit``. Other commands, and in-process runners such as click's ``CliRunner`` (which
never go through ``run``), end as before.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from functools import cache, wraps
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NoReturn, TypeVar, cast

import click
import orjson

from deltahook import gcpolicy
from deltahook.cli import stops
from deltahook.cli.lazy import LazyGroup
from deltahook.errors import DeltahookError, FeedError

if TYPE_CHECKING:
    from rich.console import Console

    from deltahook.config import Settings
    from deltahook.feeds.readers import Reject
    from deltahook.results import RunResult

F = TypeVar("F", bound=Callable[..., Any])

EXIT_ERROR = 1
EXIT_REJECTED = 3
EXIT_SWEEP_SKIPPED = 4  # a full feed's sweep did not run: a rejected record's key is unknown
REJECTS_SHOWN = 50  # rejected records named on standard error before '... and N more'
LONG_RUNNING = {"deliver": True, "serve": False}
"""The commands that stop in order on SIGINT and SIGTERM, whose requests are recorded from the
process's start (``stops``); True: on SIGHUP too (``serve`` leaves a hang-up as it was)."""

SHOWN = 200  # rows of a table before '... and N more'

_finished = False  # see finished()

# Piped output is read in wide windows and logs; rich's default of 80 columns wraps tables.
_WIDTH = None if sys.stdout is not None and sys.stdout.isatty() else 140


@cache
def console(*, stderr: bool) -> Console:
    """The rich console of standard error or output, made when first used: rich (about 25 ms
    of CPU here) is imported by a command that prints with it, not by an ingest before it
    reads its feed (nor at all by ``ingest --json``). Hand this, not ``err``/``out``, to rich
    objects that take a console."""
    from rich.console import Console

    # No emoji codes: a location such as rules.yaml:100:3 must print as written, not as 💯.
    return Console(stderr=stderr, highlight=False, emoji=False, width=_WIDTH)


class _LazyConsole:
    """Stands for ``console(stderr=...)``: an attribute looked up on it makes the console."""

    def __init__(self, *, stderr: bool) -> None:
        self._stderr = stderr

    def __getattr__(self, name: str) -> Any:
        return getattr(console(stderr=self._stderr), name)


err = cast("Console", _LazyConsole(stderr=True))
out = cast("Console", _LazyConsole(stderr=False))


class State:
    """What every command shares: the settings, loaded lazily."""

    def __init__(self, config: Path | None, database_url: str | None) -> None:
        self.config = config
        self.database_url = database_url
        self._settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from deltahook.configload import load_settings

            overrides = {"database_url": self.database_url} if self.database_url else None
            self._settings = load_settings(self.config, overrides=overrides)
        return self._settings


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    type=click.Path(path_type=Path, dir_okay=False),
    envvar="DELTAHOOK_CONFIG",
    help="Config file (default: ./deltahook.yaml when present).",
)
@click.option("--database-url", help="SQLAlchemy database URL (overrides the config file).")
@click.version_option(package_name="deltahook")
@click.pass_context
def main(ctx: click.Context, config: Path | None, database_url: str | None) -> None:
    """deltahook: detect changes in commerce feeds and deliver them as webhooks."""
    gcpolicy.resume()  # the command's modules are imported (see run); its callback is next
    if database_url is not None and not database_url.strip():  # else the default, unsaid
        raise click.BadParameter(
            "is empty: give one such as sqlite:///deltahook.db", param_hint="'--database-url'"
        )
    ctx.obj = State(config, database_url)


def friendly(func: F) -> F:
    """Print a user's mistake as one clear line and exit non-zero, never a traceback."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except Exception as exc:
            if (message := error_message(exc)) is None:
                raise
            from rich.markup import escape

            err.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
            sys.exit(EXIT_ERROR)

    return wrapper  # type: ignore[return-value]


def error_message(exc: Exception) -> str | None:
    """The one line to tell of ``exc`` when it is a user's mistake (a ``DeltahookError``),
    SQLite's "database is locked" (another writer held the lock past the busy timeout: a long
    first load, another process's purge) or a store SQLite cannot write (``store.db.
    cannot_write``), which are neither the user's mistake nor a fault of deltahook's; None for
    any other error, to be raised as it is."""
    if isinstance(exc, DeltahookError):
        return str(exc)
    if isinstance(exc, UnicodeEncodeError) and exc.reason == "surrogates not allowed":
        # Bytes that are not UTF-8 in an argument (or a variable) reach a store of UTF-8 text.
        return f"{exc.object!r} holds bytes that are not UTF-8: deltahook takes text as UTF-8 only"
    from sqlalchemy.exc import OperationalError  # imported already when one is raised

    from deltahook.store.db import SQLITE_BUSY_TIMEOUT_MS, cannot_write

    if not isinstance(exc, OperationalError):
        return None
    if (unwritable := cannot_write(exc)) is not None:
        return f"{unwritable}, and run the command again (what it committed before is kept)"
    if "database is locked" not in str(exc.orig):
        return None
    return (
        "the database stayed locked by another writer for longer than the wait allowed "
        f"({SQLITE_BUSY_TIMEOUT_MS / 1000:g} s): try again once it is done"
    )


def print_json(data: Any) -> None:
    sys.stdout.buffer.write(orjson.dumps(data, option=orjson.OPT_INDENT_2, default=str) + b"\n")
    sys.stdout.flush()


def standard_input(what: str) -> IO[bytes]:
    """Standard input's bytes, for a FILE or FEED given as ``-``; a ``FeedError`` saying to
    pipe ``what`` in when the process was started with it closed (``<&-``)."""
    if sys.stdin is None:
        raise FeedError(f"standard input is closed: pipe the {what} in, or name its file")
    return sys.stdin.buffer


def feed_source(feed: Path) -> Path | IO[bytes]:
    """The FEED argument as the engine reads it: the file, or standard input for ``-``."""
    return standard_input("feed") if str(feed) == "-" else feed


def print_rejects(rejects: list[Reject], *, count: int | None = None, see: str = "") -> None:
    """The first ``REJECTS_SHOWN`` rejected records on standard error, each with its line and
    reason; given the ``count`` of all, how many more there were (and ``see`` where)."""
    from rich.markup import escape

    for reject in rejects[:REJECTS_SHOWN]:
        err.print(f"  [red]rejected[/] {escape(str(reject))}", soft_wrap=True)
    if count is not None and count > REJECTS_SHOWN:
        err.print(f"  ... and {count - REJECTS_SHOWN:,} more rejected{see}")


def read_object(path: Path) -> dict[str, Any]:
    """The one JSON object in ``path`` (``-``: standard input), as ``preview --before/--after``
    and ``emit`` read it."""
    from deltahook.feeds import values  # with the feed validators: not for every command

    try:
        data = standard_input("JSON").read() if str(path) == "-" else path.read_bytes()
    except OSError as exc:
        raise FeedError(f"cannot read {path}: {exc.strerror}") from exc
    try:  # read as feeds are, so the pipeline rejects NaN or a wide integer as in a feed
        value = values.loads(data.decode("utf-8-sig", "surrogateescape"))
    except values.RepeatedName as repeated:
        raise FeedError(f"{path}: {repeated.name!r} {values.REPEATED}") from None
    except RecursionError:
        raise FeedError(f"{path}: {values.DEEP}") from None
    except ValueError as exc:
        raise FeedError(f"{path}: not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise FeedError(f"{path}: expected one JSON object")
    return value


def payload_lines(payload: Mapping[str, Any]) -> str:
    """``Name=value`` lines, leaving out the ids every payload of the project shares."""
    shown = [f"{k}={v}" for k, v in payload.items() if k not in {"ClientId", "ApplicationId"}]
    return "\n".join(shown)


def exit_for(result: RunResult, *, preview: bool = False) -> None:
    """End as a feed's result says, ingest and preview alike: 4 (with its one line on stderr)
    when a full feed's sweep did not run, or would not; 3 when records were rejected. Returns
    when neither happened."""
    sweep_line = result.sweep_line(preview=preview)
    if sweep_line is not None:
        err.print(sweep_line, soft_wrap=True, markup=False)
        sys.exit(EXIT_SWEEP_SKIPPED)
    if result.counts.rejected:
        sys.exit(EXIT_REJECTED)


def finished() -> None:
    """Say that this process's work is durable and its output written: what is left of it is
    exit handlers and the exit code (see the module's docstring)."""
    global _finished  # noqa: PLW0603  # one flag for the one process
    _finished = True


def run() -> NoReturn:
    """The ``deltahook`` process: ``main`` in standalone mode (it ends with ``SystemExit``),
    then the exit, without the interpreter's teardown when the command ``finished()``.

    The cyclic collector is paused while the command's modules are imported (``gcpolicy``);
    ``main`` resumes it before the command runs, and a command may pause it again while it
    builds its engine. A long-running command's stop requests are recorded from here on."""
    if (command := _command(sys.argv[1:])) in LONG_RUNNING:
        stops.install(stops.stop_signals(hangup=LONG_RUNNING[command]))
    gcpolicy.pause()
    if sys.stdout is None:  # started with standard output closed (>&-): output is dropped
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115  # open to the end of the process
    try:
        main()
    except SystemExit as exc:
        code = exc.code
        if _finished and (code is None or isinstance(code, int)) and _alone():
            _end(code or 0)
        raise
    raise SystemExit(0)


def _command(args: Sequence[str]) -> str | None:
    """The command ``args`` name as ``main`` parses them: the first word that is neither one of
    its options nor an option's value."""
    valued = {
        name
        for param in main.params
        if isinstance(param, click.Option) and not param.is_flag
        for name in param.opts
    }
    words = iter(args)
    for word in words:
        if word == "--":
            return next(words, None)
        if word in valued:
            next(words, None)
        elif not word.startswith("-"):
            return word
    return None


def _alone() -> bool:
    """No thread but this one that Python would wait for at exit."""
    first = threading.main_thread()
    return threading.current_thread() is first and all(
        thread is first or thread.daemon for thread in threading.enumerate()
    )


def _end(code: int) -> None:
    """Exit handlers, the standard streams flushed, then ``os._exit(code)``. A stream that
    cannot be flushed (a closed pipe) returns instead: the usual exit reports it as it would."""
    atexit._run_exitfuncs()
    try:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()
    except (OSError, ValueError):
        return
    os._exit(code)
