"""The Python API: one object that wires settings, catalog, store and rules together.

engine = Engine.from_settings(load_settings())
result = engine.ingest("sku_onhand", Path("stock.ndjson"))
preview = engine.preview("sku_onhand", Path("stock.ndjson"))
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from sqlalchemy import Connection, insert, update
from sqlalchemy import Engine as SqlEngine

from deltahook.catalog.entities import Catalog, load_catalog
from deltahook.config import Settings
from deltahook.errors import FeedError
from deltahook.feeds.readers import detect_format, read_items
from deltahook.pipeline import MODES, Decider, Mode, Run, RunResult
from deltahook.store.db import open_engine
from deltahook.store.tables import ingest_jobs, job_rejects

Clock = Callable[[], datetime]
Source = Path | IO[bytes]


def utc_now() -> datetime:
    return datetime.now(UTC)


class Engine:
    """deltahook as a library: ingest feeds and preview their notifications."""

    def __init__(
        self,
        *,
        settings: Settings,
        catalog: Catalog,
        db: SqlEngine,
        decider: Decider | None = None,
        clock: Clock = utc_now,
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        self.settings = settings
        self.catalog = catalog
        self.db = db
        self.decider = decider
        self.clock = clock
        self.new_id = new_id

    @classmethod
    def from_settings(cls, settings: Settings, *, clock: Clock = utc_now) -> Engine:
        catalog = load_catalog(settings.entity_schemas_dir)
        return cls(
            settings=settings, catalog=catalog, db=open_engine(settings.database_url), clock=clock
        )

    def close(self) -> None:
        """Close the database connections this engine holds."""
        self.db.dispose()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def ingest(
        self,
        kind: str,
        source: Source,
        *,
        mode: Mode = "upsert",
        fmt: str | None = None,
        collect: bool = False,
        progress: Callable[[int], None] | None = None,
    ) -> RunResult:
        """Apply a feed: store the new snapshots, their notifications and deliveries."""
        return self._run(
            kind, source, mode=mode, fmt=fmt, dry_run=False, collect=collect, progress=progress
        )

    def preview(
        self,
        kind: str,
        source: Source,
        *,
        mode: Mode = "upsert",
        fmt: str | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> RunResult:
        """What ingesting the feed would do, against the stored snapshots; writes nothing."""
        return self._run(
            kind, source, mode=mode, fmt=fmt, dry_run=True, collect=True, progress=progress
        )

    def _run(
        self,
        kind_name: str,
        source: Source,
        *,
        mode: Mode,
        fmt: str | None,
        dry_run: bool,
        collect: bool,
        progress: Callable[[int], None] | None,
    ) -> RunResult:
        if mode not in MODES:
            raise FeedError(f"unknown mode {mode!r} (use one of {', '.join(MODES)})")
        kind = self.catalog[kind_name]
        path = source if isinstance(source, Path) else None
        feed_format = detect_format(path, fmt)
        result = RunResult(job_id=self.new_id(), kind=kind.name, mode=mode)
        with ExitStack() as stack:
            stream = stack.enter_context(_open(path)) if path is not None else source
            assert not isinstance(stream, Path)
            items = read_items(stream, feed_format, kind)
            conn = stack.enter_context(self.db.connect())
            if not dry_run:
                self._start_job(conn, result, source=str(path or "<stream>"))
            run = Run(
                conn=conn,
                kind=kind,
                mode=mode,
                decider=self.decider,
                clock=self.clock,
                result=result,
                batch_size=self.settings.batch_size,
                commit=not dry_run,
                collect=collect,
            )
            try:
                run.feed(items, progress)
            except BaseException:
                conn.rollback()
                if not dry_run:
                    self._finish_job(conn, result, status="failed")
                raise
            if dry_run:
                conn.rollback()
            else:
                self._finish_job(conn, result, status="succeeded")
        return result

    def _start_job(self, conn: Connection, result: RunResult, *, source: str) -> None:
        conn.execute(
            insert(ingest_jobs).values(
                id=result.job_id,
                kind=result.kind,
                mode=result.mode,
                source=source,
                status="running",
                started_at=self.clock(),
            )
        )
        conn.commit()

    def _finish_job(self, conn: Connection, result: RunResult, *, status: str) -> None:
        counts = result.counts.as_dict()
        counts.pop("deliveries")
        conn.execute(
            update(ingest_jobs)
            .where(ingest_jobs.c.id == result.job_id)
            .values(status=status, finished_at=self.clock(), **counts)
        )
        if result.rejects:
            conn.execute(
                insert(job_rejects),
                [{"job_id": result.job_id, **r.to_json()} for r in result.rejects],
            )
        conn.commit()


def _open(path: Path) -> IO[bytes]:
    try:
        return path.open("rb")
    except OSError as exc:
        raise FeedError(f"cannot read feed {path}: {exc.strerror}") from exc
