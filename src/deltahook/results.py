"""What an ingest or a preview reports: its mode, its counts, its rejects and what it decided."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Literal

from deltahook.changes.model import EntityChange
from deltahook.feeds.readers import Reject
from deltahook.feeds.values import printable
from deltahook.notifications import Notification
from deltahook.store.tables import FIELD_LENGTH

Mode = Literal["upsert", "merge", "full"]
MODES: tuple[Mode, ...] = ("upsert", "merge", "full")
MAX_REJECTS_KEPT = 10_000
# What a full feed's sweep did: ran, did not run (a rejected record's key is unknown), or was
# refused (it would remove more than the limit allows).
Sweep = Literal["swept", "skipped", "refused"]


class JobStatus(StrEnum):
    """How an ingest job stands: the one spelling the store, the API, /metrics and events use."""

    RUNNING = "running"  # in progress; its lease is renewed as it goes
    SUCCEEDED = "succeeded"  # every record went in
    VALIDATION_FAILED = "validation failed"  # it finished; some records were rejected
    SWEEP_SKIPPED = "sweep skipped"  # a full feed finished unswept: a reject's key is unknown
    FAILED = "failed"  # it stopped; the counts say what it applied before
    ABANDONED = "abandoned"  # its process died while running; the counts say what it applied


@dataclass(slots=True)
class Counts:
    received: int = 0
    rejected: int = 0
    duplicates: int = 0
    unchanged: int = 0
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    notifications: int = 0
    deliveries: int = 0

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__slots__}


@dataclass(slots=True, kw_only=True)
class RunResult:
    """What one ingest (or preview) did: counts, rejects, and on request the changes."""

    job_id: str
    kind: str
    mode: Mode
    baseline: bool = False  # snapshots and rule state stored, nothing decided or queued
    counts: Counts = field(default_factory=Counts)
    rejects: list[Reject] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    changes: list[EntityChange] = field(default_factory=list)
    notifications: list[Notification] = field(default_factory=list)
    near_misses: list[dict[str, Any]] = field(default_factory=list)  # preview --explain
    sweep: Sweep | None = None  # full feeds only
    unkeyed_lines: list[int] = field(default_factory=list)  # rejects whose key is unknown

    @property
    def status(self) -> JobStatus:
        """How a run that finished stands: validation failed when it rejected any record, sweep
        skipped when a full feed could not sweep for it."""
        if self.sweep == "skipped":
            return JobStatus.SWEEP_SKIPPED
        return JobStatus.VALIDATION_FAILED if self.counts.rejected else JobStatus.SUCCEEDED

    def sort_rejects(self) -> None:
        """Order the rejects by line, the order every report of them uses."""
        self.rejects.sort(key=lambda reject: reject.line)

    def reject(self, reject: Reject) -> None:
        """Count a rejected record; keep the first ``MAX_REJECTS_KEPT`` for the report.

        Its field and reason may quote the feed: they are kept printable and storable.
        """
        self.counts.rejected += 1
        if len(self.rejects) < MAX_REJECTS_KEPT:
            field = printable(reject.field)[:FIELD_LENGTH] if reject.field else reject.field
            self.rejects.append(replace(reject, field=field, reason=printable(reject.reason)))

    def unkeyed(self, line: int) -> None:
        """Keep the line of a rejected record whose key is unknown (the first ones)."""
        if len(self.unkeyed_lines) < MAX_REJECTS_KEPT:
            self.unkeyed_lines.append(line)

    def sweep_line(self, *, preview: bool = False) -> str | None:
        """One line saying why a full feed's sweep did not run, naming the lines (or None);
        a ``preview`` says what an ingest would do, since it writes nothing."""
        if self.sweep != "skipped":
            return None
        lines = self.unkeyed_lines
        shown = ", ".join(str(n) for n in lines[:20]) + (" ..." if len(lines) > 20 else "")
        which = (
            f"record rejected on line {shown} is"
            if len(lines) == 1
            else (f"records rejected on lines {shown} are")
        )
        # A CSV header naming an unknown column rejects the file whole: no row was read.
        anything = self.counts.received > self.counts.rejected
        if preview:
            rest = "apply the rest of the feed" if anything else "apply no record of the feed"
            return (
                f"sweep skipped: the key of the {which} unknown, so an ingest would deactivate or "
                f"delete nothing and {rest}"
            )
        rest = "the rest of the feed was applied" if anything else "no record of it was applied"
        return (
            f"sweep skipped: the key of the {which} unknown, so nothing was deactivated or "
            f"deleted; {rest}"
        )

    def tally(self) -> RunResult:
        """An empty result of the same run, for one batch to count into until it commits."""
        return RunResult(job_id=self.job_id, kind=self.kind, mode=self.mode)

    def add(self, tally: RunResult) -> None:
        """Count a committed batch's ``tally`` into this result."""
        for name in Counts.__slots__:
            setattr(self.counts, name, getattr(self.counts, name) + getattr(tally.counts, name))
        self.rejects.extend(tally.rejects[: MAX_REJECTS_KEPT - len(self.rejects)])
        self.unkeyed_lines.extend(tally.unkeyed_lines[: MAX_REJECTS_KEPT - len(self.unkeyed_lines)])
        self.notices.extend(tally.notices[: MAX_REJECTS_KEPT - len(self.notices)])
        self.changes.extend(tally.changes)
        self.notifications.extend(tally.notifications)

    def notice(self, text: str) -> None:
        """Keep a line for the report (the first ``MAX_REJECTS_KEPT``)."""
        if len(self.notices) < MAX_REJECTS_KEPT:
            self.notices.append(text)
