"""Every error a user of deltahook can meet.

    DeltahookError
     ├── ConfigError            the config file or an environment variable is wrong
     ├── CatalogError           an entity or event schema is missing or badly annotated
     ├── FeedError              a feed cannot be read at all (missing file, unknown format)
     ├── SweepRefusedError      a full feed would remove more of its scope than allowed
     ├── RuleError              the rule set is invalid (carries every problem found)
     ├── EventError             an event payload does not match its type's schema
     │    └── IdempotencyConflictError  the idempotency key was used for another event
     ├── StoreError             the database cannot be used
     │    ├── SchemaBehindError the database needs `deltahook db upgrade`
     │    ├── SchemaAheadError  a newer deltahook made the database's schema
     │    ├── ConflictError     a concurrent writer changed the same entities; retry
     │    └── StoreUnavailableError  the database stopped answering (the dispatcher waits)
     └── DeliveryError          a subscription or delivery command cannot be carried out
          ├── UnknownSubscriptionError
          └── SubscriptionConflictError  exists already, or the config file owns it

Each error carries the data a person needs to act on it; the command line prints its message
on one line and exits non-zero. Errors from third-party libraries are wrapped at the edge with
``raise ... from``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class DeltahookError(Exception):
    """Base class of every error deltahook raises on purpose."""


class ConfigError(DeltahookError):
    """The config file or an environment variable is invalid: fix the named setting.

    ``problems`` lists every problem found, one line each (``deltahook.yaml:7:14: ...``); the
    message is those lines, or the single reason given.
    """

    def __init__(self, message: str | None = None, *, problems: Sequence[str] = ()) -> None:
        self.problems = tuple(problems) if problems else ((message,) if message else ())
        super().__init__(message if message is not None else "\n".join(self.problems))


class CatalogError(DeltahookError):
    """An entity-kind or event-type schema is missing or badly annotated.

    Raised at start-up, before anything is read or written; the message names the file.
    """

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path


class FeedError(DeltahookError):
    """A feed cannot be read at all (missing file, unknown format, unknown kind).

    Single bad records never raise this: they are rejected and reported by line.
    """


class SweepRefusedError(DeltahookError):
    """A full feed would deactivate or delete more of its scope than its limit allows.

    Nothing was removed; the records the feed carried were applied and the job failed. If the
    removal is meant, run the feed again with a higher limit (``--max-remove``, ``max_remove``
    on the Python and HTTP APIs, or the kind's ``max_remove`` in the config file).
    """

    def __init__(
        self,
        *,
        job_id: str,
        kind: str,
        verb: str,
        removing: int,
        of: int,
        limit: object,
        preview: bool = False,
        empty: bool = False,
    ) -> None:
        share = f"{removing * 100 / of:.0f}%" if of else "all"
        held = "it held no record and" if empty else "it"
        outcome = (
            "a preview writes nothing"
            if preview
            else f"nothing was {verb}d and the records it carried were applied (job {job_id})"
        )
        super().__init__(
            f"full feed refused: {held} would {verb} {removing} of the {of} {kind} entities in its "
            f"scope ({share}), over the limit of {limit} (max_remove); {outcome}. If that is "
            "meant, run it again with a higher --max-remove"
        )
        self.job_id = job_id
        self.kind = kind
        self.removing = removing
        self.of = of
        self.limit = limit


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceProblem:
    """One problem in a source file, with its location (1-based line and column)."""

    path: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}: {self.message}"


class RuleError(DeltahookError):
    """The rule set is invalid; ``problems`` lists every error found, each with its location."""

    def __init__(self, problems: Sequence[SourceProblem]) -> None:
        self.problems = tuple(problems)
        count = len(self.problems)
        first = str(self.problems[0]) if self.problems else "no details"
        more = f" (and {count - 1} more)" if count > 1 else ""
        super().__init__(f"invalid rules: {first}{more}")


class EventError(DeltahookError):
    """An event payload does not validate against its event type's JSON Schema.

    ``problems`` lists every schema error, one readable line each (empty when the event is
    refused for another reason, such as an unknown type).
    """

    def __init__(
        self, message: str, *, event_type: str | None = None, problems: Sequence[str] = ()
    ) -> None:
        super().__init__(message)
        self.event_type = event_type
        self.problems = tuple(problems)


class IdempotencyConflictError(EventError):
    """An event was posted with an idempotency key already used for a different event.

    A retry must send the same type and payload as the first try; a new event needs a new key.
    """


class StoreError(DeltahookError):
    """The database cannot be used (unreachable, locked, wrong URL)."""


class SchemaBehindError(StoreError):
    """The database schema is older than this version of deltahook: run `deltahook db upgrade`."""


class SchemaAheadError(StoreError):
    """The database schema was made by a newer version of deltahook: run that version (or a
    later one); this one neither runs on it nor migrates it."""


class ConflictError(StoreError):
    """Another writer changed the same entities at the same time; the batch is retried."""


class StoreUnavailableError(StoreError):
    """The database stopped answering while a dispatcher ran: the server is stopped or out of
    reach, the connection dropped, the SQLite file cannot be opened or stayed locked.

    The dispatcher says so once, claims nothing and holds the results of attempts that end
    meanwhile, and tries again after ``store_retry_first`` seconds, doubling up to
    ``store_retry_max``; ``deliver --once`` ends instead. ``reason`` is the driver's, on one
    line."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"the database cannot be used: {reason}")
        self.reason = reason


class DeliveryError(DeltahookError):
    """A subscription or delivery command cannot be carried out."""


class UnknownSubscriptionError(DeliveryError):
    """No subscription has the given name: see `deltahook subscriptions list`."""

    def __init__(self, name: str) -> None:
        super().__init__(f"no subscription named {name!r}")
        self.name = name


class SubscriptionConflictError(DeliveryError):
    """The subscription cannot be made or changed so: the name is taken, or the config file
    declares it (change it there; only on/off may be switched elsewhere)."""
