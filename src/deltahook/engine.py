"""The Python API: one object that wires settings, catalog, store and rules together.

engine = Engine.from_settings(load_settings())
result = engine.ingest("sku_onhand", Path("stock.ndjson"))
preview = engine.preview("sku_onhand", Path("stock.ndjson"), explain=True)
"""

from __future__ import annotations

import io
import json
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import orjson
from sqlalchemy import Engine as SqlEngine

from deltahook import counting, ingesting
from deltahook.bootstrap import open_store
from deltahook.catalog.entities import Catalog, EntityKind, load_catalog
from deltahook.catalog.events import EventCatalog, load_event_catalog
from deltahook.clock import Clock, utc_now
from deltahook.config import Settings
from deltahook.errors import FeedError
from deltahook.feeds import limits, values
from deltahook.feeds.keys import readable_key
from deltahook.ingesting import Source
from deltahook.notifications import time_ordered_id
from deltahook.results import Mode, RunResult
from deltahook.rules.loader import load_rules
from deltahook.rules.model import RuleSet
from deltahook.store import refs
from deltahook.store.db import open_engine, reading
from deltahook.writing import Decider

if TYPE_CHECKING:
    from deltahook.emission import Emitted
    from deltahook.store.readback import StoredEntity


class Engine:
    """deltahook as a library: ingest feeds and preview their notifications."""

    def __init__(
        self,
        *,
        settings: Settings,
        catalog: Catalog,
        db: SqlEngine,
        decider: Decider | None = None,
        rules: RuleSet | None = None,
        events: EventCatalog | None = None,
        clock: Clock = utc_now,
        new_id: Callable[[], str] = time_ordered_id,
    ) -> None:
        self.settings = settings
        self.catalog = catalog
        self.db = db
        self.decider = decider  # a custom Decider replaces the rules
        self.rules = rules
        self.events = events
        self.clock = clock
        self.new_id = new_id

    @classmethod
    def from_settings(
        cls, settings: Settings, *, clock: Clock = utc_now, pool_size: int | None = None
    ) -> Engine:
        """Load the catalogs and the rule set (refusing an invalid one), then open the store.

        The config file's subscriptions are synced into the store first, so what an ingest
        queues follows the file as it is now. ``pool_size``: database connections kept open
        (a server's; the default suits one command).
        """
        catalog = load_catalog(settings.entity_schemas_dir)
        limits.check_kinds(settings.max_remove, [kind.name for kind in catalog])
        events = load_event_catalog(settings.event_schemas_dir)
        rules = load_rules(
            settings.rules_dir, catalog=catalog, events=events, constants=settings.constants
        )
        db = open_store(settings, clock=clock, pool_size=pool_size)
        return cls(
            settings=settings, catalog=catalog, db=db, rules=rules, events=events, clock=clock
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
        job_id: str | None = None,
        max_remove: str | int | None = None,
        baseline: bool = False,
        on_batch: Callable[[RunResult], None] | None = None,
    ) -> RunResult:
        """Apply a feed: store the new snapshots, their notifications and deliveries.

        The job is recorded under ``job_id`` (a new id by default), so a caller can name it
        even when the ingest fails. A full feed that would deactivate or delete more of its
        scope than ``max_remove`` (a count or a percentage; default: the kind's ``max_remove``
        in the settings, else 10%) removes nothing and raises ``SweepRefusedError``.

        A ``baseline`` load stores the snapshots and the rule (breakpoint) state exactly as an
        ingest would, and decides and queues nothing, not even its ``JobCompletedEvent``: for
        seeding a new environment or kind, or re-seeding after restoring a backup.

        With ``on_batch``, each committed batch's result (with its changes and notifications
        when ``collect``) is handed to it and not kept: memory stays flat however large the feed.
        """
        return ingesting.run(
            self,
            kind,
            source,
            mode=mode,
            fmt=fmt,
            dry_run=False,
            collect=collect,
            progress=progress,
            job_id=job_id,
            max_remove=max_remove,
            baseline=baseline,
            on_batch=on_batch,
        )

    def preview(
        self,
        kind: str,
        source: Source,
        *,
        mode: Mode = "upsert",
        fmt: str | None = None,
        progress: Callable[[int], None] | None = None,
        explain: bool = False,
        max_remove: str | int | None = None,
    ) -> RunResult:
        """What ingesting the feed would do, against the stored snapshots; writes nothing.

        With ``explain`` the result also lists the near misses.
        """
        return ingesting.run(
            self,
            kind,
            source,
            mode=mode,
            fmt=fmt,
            dry_run=True,
            collect=True,
            progress=progress,
            explain=explain,
            max_remove=max_remove,
        )

    def preview_pair(
        self,
        kind: str,
        *,
        before: Mapping[str, Any] | None,
        after: Mapping[str, Any],
        explain: bool = False,
    ) -> RunResult:
        """What changing one entity from ``before`` (None: new) to ``after`` would notify.

        Runs the same pipeline on a scratch database holding only ``before``, so the stored
        snapshots (and rule state) play no part. Raises ``FeedError`` naming the field when
        ``before`` is a record a feed would reject (it would stand for no entity at all), or
        one of another entity than ``after`` (``after`` would be previewed as new).
        """
        if before is not None:
            _refuse_two_entities(self.catalog[kind], before, after)
        with self._scratch() as scratch:
            if before is not None:
                loaded = scratch.ingest(kind, _one_record(before), fmt="ndjson")
                for reject in loaded.rejects[:1]:
                    where = f"{reject.field}: " if reject.field else ""
                    raise FeedError(
                        f"the 'before' record is not a valid {kind}: {where}{reject.reason}"
                    )
            return scratch.preview(kind, _one_record(after), fmt="ndjson", explain=explain)

    def preview_against(
        self,
        kind: str,
        source: Source,
        *,
        base: Source,
        mode: Mode = "upsert",
        fmt: str | None = None,
        base_fmt: str | None = None,
        explain: bool = False,
        max_remove: str | int | None = None,
    ) -> RunResult:
        """What ingesting the feed would do after the feed ``base``, whatever the store holds.

        ``base`` is loaded as a baseline (snapshots and rule state, as an ingest stores them)
        into a scratch database, and the feed is previewed against it. A record of ``base``
        that is rejected is left out of it: the result's notices say so, by line and reason.
        """
        with self._scratch() as scratch:
            loaded = scratch.ingest(kind, base, fmt=base_fmt, baseline=True)
            result = scratch.preview(
                kind, source, mode=mode, fmt=fmt, explain=explain, max_remove=max_remove
            )
        if loaded.counts.rejected:
            result.notice(
                f"the base feed had {loaded.counts.rejected:,} rejected record(s), previewed "
                "as if absent"
            )
            for reject in loaded.rejects:
                result.notice(f"base {reject}")
        return result

    @contextmanager
    def _scratch(self) -> Iterator[Engine]:
        """This engine's catalog and rules over an empty database of its own, deleted after."""
        with tempfile.TemporaryDirectory(prefix="deltahook-preview-") as folder:
            from deltahook.store import scratch as scratch_store  # previews only

            path = Path(folder) / "scratch.db"
            scratch_store.make_empty(path)
            url = f"sqlite:///{path}"
            db = open_engine(url)
            counting.uncounted(db)
            scratch = Engine(
                settings=self.settings.model_copy(update={"database_url": url}),
                catalog=self.catalog,
                db=db,
                decider=self.decider,
                rules=self.rules,
                events=None,  # no JobCompletedEvent for the scratch ingest
                clock=self.clock,
                new_id=self.new_id,
            )
            with scratch:
                yield scratch

    def with_rules(self, rules: RuleSet) -> Engine:
        """The same engine (store, catalog, clock) deciding with ``rules`` instead: for
        comparing rule sets over one input. Close only this engine, not the copy."""
        return Engine(
            settings=self.settings,
            catalog=self.catalog,
            db=self.db,
            rules=rules,
            events=self.events,
            clock=self.clock,
            new_id=self.new_id,
        )

    def snapshot(self, kind: str, key: str) -> StoredEntity | None:
        """The stored entity ``kind``/``key``: snapshot, version, times, the job that last wrote
        it and its recent notifications; None when there is none (an unknown kind raises)."""
        from deltahook.store import readback  # only this reads an entity back: not an ingest

        self.catalog[kind]
        with reading(self.db) as conn:
            return readback.find(conn, kind, key)

    def rebuild_references(self, kind: str | None = None) -> dict[str, tuple[int, int]]:
        """Write the references of the stored entities of ``kind`` (default: every kind that
        declares references) again from their snapshots; per kind, the entities read and the
        references written. For snapshots stored before references were kept."""
        kinds = [self.catalog[kind]] if kind else [k for k in self.catalog if k.references]
        done = {}
        for each in kinds:
            with self.db.connect() as conn:
                done[each.name] = refs.rebuild(conn, each, page=self.settings.batch_size)
        return done

    def emit(
        self, event_type: str, payload: Mapping[str, Any], *, idempotency_key: str | None = None
    ) -> Emitted:
        """Validate an event posted directly and record it with its deliveries, once per
        ``idempotency_key`` (see ``emission.emit``)."""
        from deltahook import emission  # only posted events need it: not an ingest

        return emission.emit(
            self.db,
            self.events or load_event_catalog(self.settings.event_schemas_dir),
            event_type,
            payload,
            constants=self.settings.constants,
            now=self.clock(),
            idempotency_key=idempotency_key,
        )


def _refuse_two_entities(
    kind: EntityKind, before: Mapping[str, Any], after: Mapping[str, Any]
) -> None:
    """Refuse a pair whose keys differ: it is no change of one entity (an unreadable key is
    left to the reader, which rejects it naming the field)."""
    keys = readable_key(kind, before), readable_key(kind, after)
    if None not in keys and keys[0] != keys[1]:
        raise FeedError(
            f"'before' and 'after' are two {kind.name} entities (keys {keys[0]!r} and "
            f"{keys[1]!r}): a pair is one entity before and after its change"
        )


def _one_record(record: Mapping[str, Any]) -> IO[bytes]:
    """``record`` as a one-line feed, written by the standard library: NaN and integers of any
    width stay as they are, so the reader rejects them as it would in a feed."""
    return io.BytesIO(json.dumps(record, default=_as_json).encode() + b"\n")


def _as_json(value: Any) -> Any:
    """What orjson makes of a value the standard library cannot write (a date, a UUID); an
    integer of more digits than Python reads, as the least integer too wide to store, for the
    reader to reject as it would in a feed."""
    if isinstance(value, values.WideInteger):
        return 1 << 64
    return orjson.loads(orjson.dumps(value))
