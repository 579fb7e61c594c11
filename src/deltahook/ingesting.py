"""An ingest or a preview as the engine runs it: the feed opened and read, the job recorded
as running and then ended (with its counts, rejects and ``JobCompletedEvent``), the pipeline's
``Run`` driven over the feed, and the rules' notices gathered into the result.

``Engine.ingest`` and ``Engine.preview`` call ``run``; everything here reads the engine's
settings, catalog, store, rules, clock and ids and keeps no state of its own.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import IO, TYPE_CHECKING

from sqlalchemy import Connection

from deltahook import counting, job_events
from deltahook.errors import FeedError
from deltahook.feeds import limits
from deltahook.feeds.readers import detect_format, read_items
from deltahook.ownership import this_process
from deltahook.pipeline import Idles, Run
from deltahook.results import MODES, Counts, JobStatus, Mode, RunResult
from deltahook.rules.evaluate import RulesDecider
from deltahook.store import jobs
from deltahook.store.db import ANALYZE_AFTER, refresh_statistics
from deltahook.store.tables import entities, rule_state

if TYPE_CHECKING:
    from deltahook.engine import Engine

Source = Path | IO[bytes]


def run(
    engine: Engine,
    kind_name: str,
    source: Source,
    *,
    mode: Mode,
    fmt: str | None,
    dry_run: bool,
    collect: bool,
    progress: Callable[[int], None] | None,
    explain: bool = False,
    job_id: str | None = None,
    max_remove: str | int | None = None,
    baseline: bool = False,
    on_batch: Callable[[RunResult], None] | None = None,
) -> RunResult:
    """Read ``source`` into the store (or, ``dry_run``, into a rolled-back transaction),
    recording the job unless ``dry_run``; see ``Engine.ingest`` and ``Engine.preview``."""
    if mode not in MODES:
        raise FeedError(f"unknown mode {mode!r} (use one of {', '.join(MODES)})")
    kind = engine.catalog[kind_name]
    limit = limits.chosen(max_remove, engine.settings.removal_limit(kind.name))
    path = source if isinstance(source, Path) else None
    feed_format = detect_format(path, fmt)
    result = RunResult(
        job_id=job_id or engine.new_id(), kind=kind.name, mode=mode, baseline=baseline
    )
    with ExitStack() as stack:
        stream = stack.enter_context(_open(path)) if path is not None else source
        assert not isinstance(stream, Path)
        items = read_items(stream, feed_format, kind, lazy=True)
        conn = stack.enter_context(engine.db.connect())
        lease = None if dry_run else _start_job(engine, conn, result, source=_source_name(path))
        if not dry_run:  # each batch takes its own: waiting for records, the run holds none
            conn.close()
        page = engine.settings.batch_size
        rules = RulesDecider(engine.rules, explain=explain, page=page) if engine.rules else None
        if rules is not None:
            stack.callback(rules.close)
        run = Run(
            conn=conn,
            kind=kind,
            mode=mode,
            decider=engine.decider or rules,
            clock=engine.clock,
            result=result,
            batch_size=engine.settings.batch_size,
            commit=not dry_run,
            collect=collect,
            max_remove=limit,
            checkpoint=lease,
            pool=None if dry_run else engine.db,
            baseline=baseline,
            change_log=engine.settings.change_log,
            on_batch=on_batch,
        )
        if not dry_run and isinstance(stream, Idles):
            stream.when_idle(run.idle)  # an upload that stalls has its changes so far stored
        try:
            run.feed(items, progress)
        except BaseException:
            if dry_run:
                conn.rollback()
            else:  # the failed batch's own connection was rolled back as it closed
                assert lease is not None
                # Lines whose changes were lost are not claimed: what the last checkpoint did.
                counts = lease.claimed if run.lost_changes else None
                with engine.db.connect() as ending:
                    _finish_job(engine, ending, result, status=JobStatus.FAILED, counts=counts)
            raise
        result.sort_rejects()
        if rules is not None:
            result.notices.extend(rules.problems)
            result.notices.extend(rules.cooling_notice())
            result.near_misses.extend(rules.near_misses)
        if dry_run:
            conn.rollback()
        else:
            with engine.db.connect() as ending:
                _finish_job(engine, ending, result, status=result.status)
                if result.counts.inserted >= ANALYZE_AFTER:
                    refresh_statistics(ending, entities, rule_state)
                    ending.commit()
    return result


def _source_name(path: Path | None) -> str:
    """The feed as its job records it: its file name, with bytes that are not UTF-8 (a name
    made on a Latin-1 system) written as ``\\xNN``, since a store keeps UTF-8 text."""
    if path is None:
        return "<stream>"
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _start_job(engine: Engine, conn: Connection, result: RunResult, *, source: str) -> jobs.Lease:
    """Mark the jobs whose process died as abandoned, then record this one as running."""
    now = engine.clock()
    job_events.abandon_dead(conn, settings=engine.settings, events=engine.events, now=now)
    lease = jobs.Lease(
        job_id=result.job_id,
        clock=engine.clock,
        lease_s=engine.settings.job_lease_s,
        renewed_at=now,
    )
    jobs.start(
        conn,
        job_id=result.job_id,
        kind=result.kind,
        mode=result.mode,
        source=source,
        now=now,
        owner=this_process(),
        lease_until=lease.until(now),
        baseline=result.baseline,
    )
    conn.commit()
    return lease


def _finish_job(
    engine: Engine,
    conn: Connection,
    result: RunResult,
    *,
    status: JobStatus,
    counts: Counts | None = None,
) -> None:
    """Record the job's end with ``counts`` (default: the run's)."""
    result.sort_rejects()
    rejects = [r.to_json() for r in result.rejects]
    figures = (result.counts if counts is None else counts).as_dict()
    jobs.finish(
        conn, result.job_id, status=status, counts=figures, rejects=rejects, now=engine.clock()
    )
    ended = [] if result.baseline else [(result.job_id, status)]
    job_events.record(
        conn, ended, settings=engine.settings, events=engine.events, now=engine.clock()
    )
    conn.commit()
    if (metrics := counting.telemetry(conn)) is not None:
        metrics.job_ended(result.kind, status, figures)


def _open(path: Path) -> IO[bytes]:
    try:
        return path.open("rb")
    except OSError as exc:
        raise FeedError(f"cannot read feed {path}: {exc.strerror}") from exc
