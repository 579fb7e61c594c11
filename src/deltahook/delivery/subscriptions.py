"""Subscriptions in the store, kept in step with the config file.

The config file is the source of truth for the subscriptions it declares: ``sync`` writes
each one into the ``subscriptions`` table (``source='config'``) when a command that delivers or
manages subscriptions starts. On/off is the one setting the command line may change too, and
the latest decision wins:

- a new subscription starts as the config file says (``enabled``, default true);
- ``deltahook subscriptions disable NAME`` (or ``enable``) persists in the store and survives
  later syncs, restarts included;
- editing ``enabled`` in the config file is a newer decision and overrides the CLI's.

A subscription removed from the config file is switched off and kept (``source='removed'``)
so its deliveries stay in the log; declaring it again brings it back as the file says.

Subscriptions made over the HTTP API live in the same table (``source='api'``, see
``deltahook.delivery.managed``); ``sync`` leaves them alone, unless the config file declares
one of their names: then the file takes it over.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import Connection, Executable, Select, Update, bindparam, insert, select, update

from deltahook.delivery.health import Health, HealthPolicy
from deltahook.delivery.signing import HeaderStyle
from deltahook.errors import ConfigError, DeliveryError, UnknownSubscriptionError
from deltahook.store.tables import subscriptions

if TYPE_CHECKING:
    from deltahook.delivery.settings import SubscriptionSettings

FROM_CONFIG = "config"
REMOVED = "removed"


@dataclass(frozen=True, slots=True, kw_only=True)
class Subscription:
    """A subscription as stored; header values and secrets may still hold ``${VAR}``."""

    name: str
    url: str
    event_types: frozenset[str]
    enabled: bool
    headers: Mapping[str, str]
    secrets: tuple[str, ...]
    header_style: HeaderStyle
    timeout: float
    schedule: tuple[timedelta, ...]
    max_concurrency: int
    source: str
    paused: str | None = None
    """Why a dispatcher holds its deliveries (it cannot fill a ``${VAR}``), or ``None``."""
    rate_limit: float | None = None
    """Requests a second at most (``None``: as fast as its concurrency allows)."""
    rate_burst: int | None = None
    policy: HealthPolicy = field(default_factory=HealthPolicy)
    health: Health = field(default_factory=Health)
    disabled_reason: str | None = None
    """Why the dispatcher switched it off (nothing but failures for too long), or ``None``."""

    def wants(self, event_type: str) -> bool:
        return "*" in self.event_types or event_type in self.event_types

    def summary(self) -> dict[str, Any]:
        """What listings show: settings, never header values or secrets."""
        return {
            "name": self.name,
            "enabled": self.enabled,
            "url": shown_url(self.url),
            "event_types": sorted(self.event_types),
            "header_style": self.header_style,
            "signed": bool(self.secrets),
            "timeout_s": self.timeout,
            "retries": len(self.schedule),
            "max_concurrency": self.max_concurrency,
            "source": self.source,
            "rate_limit": self.rate_limit,
            "failures": self.health.failures,
            "last_success_at": _iso(self.health.last_success_at),
            "last_status_code": self.health.last_status_code,
            "circuit_open_until": _iso(self.health.circuit_until),
            "disabled_reason": self.disabled_reason,
        }


MASKED = "****"  # what listings show for a password in a URL


def shown_url(url: str) -> str:
    """``url`` as listings show it: a password in it (``https://user:pass@host/``) is a secret
    like a signing secret and is shown as ``****``; the rest is as stored."""
    scheme, sep, rest = url.partition("://")
    authority = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    userinfo, at, _host = authority.rpartition("@")
    user, colon, password = userinfo.partition(":")
    if not (sep and at and colon and password):
        return url
    return f"{scheme}://{user}:{MASKED}@{rest[len(userinfo) + 1 :]}"


def _iso(when: datetime | None) -> str | None:
    return when.isoformat() if when is not None else None


def sync(
    conn: Connection, declared: Sequence[SubscriptionSettings], *, now: datetime
) -> dict[str, list[str]]:
    """Write the config file's subscriptions into the store; returns names by what happened."""
    report: dict[str, list[str]] = {"added": [], "updated": [], "removed": []}
    for what, name, statement in _sync_steps(conn, declared, now=now):
        conn.execute(statement)
        report[what].append(name)
    return report


def in_sync(conn: Connection, declared: Sequence[SubscriptionSettings]) -> bool:
    """Whether ``sync`` would write nothing: it only reads, so every command can ask first in
    a read-only transaction and take the write lock only when the config file changed."""
    return next(_sync_steps(conn, declared, now=datetime.min), None) is None


def _sync_steps(
    conn: Connection, declared: Sequence[SubscriptionSettings], *, now: datetime
) -> Iterator[tuple[str, str, Executable]]:
    """What ``sync`` does, one statement at a time, each with what it does to which name."""
    names = [s.name for s in declared]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError(f"subscriptions: the name {duplicates[0]!r} is declared twice")
    stored = {row.name: row for row in conn.execute(select(subscriptions))}
    for sub in declared:
        values = settings_values(sub)
        row = stored.get(sub.name)
        if row is None or row.source != FROM_CONFIG:
            values |= {"enabled": sub.enabled, "source": FROM_CONFIG, "updated_at": now}
            statement = (
                insert(subscriptions).values(name=sub.name, created_at=now, **values)
                if row is None
                else update(subscriptions).where(_named(sub.name)).values(**values)
            )
            yield "added", sub.name, statement
            continue
        if row.config_enabled != sub.enabled:  # the file's decision is newer than the CLI's
            values["enabled"] = sub.enabled
        if any(getattr(row, key) != value for key, value in values.items()):
            statement = update(subscriptions).where(_named(sub.name))
            yield "updated", sub.name, statement.values(updated_at=now, **values)
    for name, row in stored.items():
        if row.source == FROM_CONFIG and name not in names:
            statement = update(subscriptions).where(_named(name))
            yield "removed", name, statement.values(enabled=False, source=REMOVED, updated_at=now)


def settings_values(sub: SubscriptionSettings) -> dict[str, Any]:
    """The ``subscriptions`` columns that ``sub``'s settings fill."""
    return {
        "url": sub.url,
        "event_types": orjson.dumps(sorted(set(sub.event_types))).decode(),
        "header_style": sub.header_style,
        "headers": orjson.dumps(sub.headers, option=orjson.OPT_SORT_KEYS).decode(),
        "secrets": orjson.dumps(sub.secrets).decode(),
        "timeout_s": sub.timeout,
        "schedule_s": orjson.dumps([d.total_seconds() for d in sub.retry_schedule]).decode(),
        "max_concurrency": sub.max_concurrency,
        "config_enabled": sub.enabled,
        "rate_limit": sub.rate_limit,
        "rate_burst": sub.rate_burst,
        "circuit_after": sub.circuit_after,
        "circuit_cooldown_s": sub.circuit_cooldown.total_seconds(),
        "disable_after_s": sub.disable_after.total_seconds(),
    }


def _named(name: str) -> Any:
    return subscriptions.c.name == name


def load(conn: Connection) -> list[Subscription]:
    """Every stored subscription, by name."""
    rows = conn.execute(select(subscriptions).order_by(subscriptions.c.name))
    return [_from_row(row) for row in rows]


def get(
    conn: Connection, name: str, *, locked: bool = False, values_only: bool = False
) -> Subscription:
    """The stored subscription ``name``; ``locked``: its row locked until the transaction ends,
    ``FOR UPDATE``, which waits for the ingest batches queueing for it (``wanted``), or with
    ``values_only`` (a dispatcher's health: what changes is never who is subscribed to what)
    ``FOR NO KEY UPDATE``, which does not."""
    row = conn.execute(_get_statement(locked, values_only), {"s_name": name}).first()
    if row is None:
        raise UnknownSubscriptionError(name)
    return _from_row(row)


@cache
def _get_statement(locked: bool, values_only: bool) -> Select[Any]:
    """``get``'s query, built once (a dispatcher asks with every batch it records)."""
    query = select(subscriptions).where(subscriptions.c.name == bindparam("s_name"))
    return query.with_for_update(key_share=values_only) if locked else query


@cache
def health_statement() -> Update:
    """The update of one subscription's (``h_name``) stored health, from ``health_values``
    under ``h_`` names, built once (a dispatcher makes it with every batch it records)."""
    c = subscriptions.c
    columns = list(health_values(Health()))
    return (
        update(subscriptions)
        .where(c.name == bindparam("h_name", type_=c.name.type))
        .values({name: bindparam(f"h_{name}", type_=c[name].type) for name in columns})
    )


_UNLOCKED_SUBSCRIBERS = (
    select(subscriptions.c.name, subscriptions.c.event_types)
    .where(subscriptions.c.enabled.is_(True))
    .order_by(subscriptions.c.name)
)
# Locked ``FOR KEY SHARE`` until the batch commits, in name order (the order every lock of
# these rows is taken in): a change or deletion, which locks the row ``FOR UPDATE`` first (see
# ``get``), waits for the deliveries queued by what read it, and a batch that reads it after
# such a change sees the change. A dispatcher's health and rate-limit updates lock it ``FOR NO
# KEY UPDATE``, which this does not conflict with: neither waits for the other.
_SUBSCRIBERS = _UNLOCKED_SUBSCRIBERS.with_for_update(read=True, key_share=True)
# The statement SQLAlchemy compiles ``_SUBSCRIBERS`` to on SQLite, written out: every batch that
# decides a notification asks, and the statement's caching and compiling cost more than the query.
_SUBSCRIBERS_SQLITE = (
    "SELECT subscriptions.name, subscriptions.event_types FROM subscriptions "
    "WHERE subscriptions.enabled IS 1 ORDER BY subscriptions.name"
)


def wanted(conn: Connection, *, lock: bool = True) -> list[tuple[str, frozenset[str]]]:
    """Each enabled subscription's name and event types: whom a notification is queued for;
    ``lock``: their rows locked as ``_SUBSCRIBERS`` says (PostgreSQL)."""
    if conn.dialect.name == "sqlite":
        rows = conn.exec_driver_sql(_SUBSCRIBERS_SQLITE)
    else:
        rows = conn.execute(_SUBSCRIBERS if lock else _UNLOCKED_SUBSCRIBERS)
    return [(name, frozenset(orjson.loads(types))) for name, types in rows]


def set_enabled(conn: Connection, name: str, *, enabled: bool, now: datetime) -> bool:
    """Switch a subscription on or off; returns whether it was already so."""
    current = get(conn, name, locked=True)
    if current.source == REMOVED and enabled:
        raise DeliveryError(
            f"subscription {name!r} is no longer in the config file; declare it there again"
        )
    values: dict[str, Any] = {"enabled": enabled, "updated_at": now}
    if enabled and not current.enabled:  # switched on again: its health starts afresh
        values |= health_values(Health()) | {"disabled_reason": None}
    conn.execute(update(subscriptions).where(_named(name)).values(**values))
    return current.enabled == enabled


def health_values(health: Health) -> dict[str, Any]:
    return {
        "failures": health.failures,
        "failing_since": health.failing_since,
        "last_success_at": health.last_success_at,
        "last_attempt_at": health.last_attempt_at,
        "last_status_code": health.last_status_code,
        "circuit_until": health.circuit_until,
    }


def set_paused(conn: Connection, reasons: Mapping[str, str | None]) -> None:
    """Record why each named subscription's deliveries are held (``None``: they are not)."""
    for name, reason in reasons.items():
        conn.execute(update(subscriptions).where(_named(name)).values(paused=reason))


def _from_row(row: Any) -> Subscription:
    return Subscription(
        name=row.name,
        url=row.url,
        event_types=frozenset(orjson.loads(row.event_types)),
        enabled=bool(row.enabled),
        headers=orjson.loads(row.headers),
        secrets=tuple(orjson.loads(row.secrets)),
        header_style=row.header_style,
        timeout=float(row.timeout_s),
        schedule=tuple(timedelta(seconds=s) for s in orjson.loads(row.schedule_s)),
        max_concurrency=int(row.max_concurrency),
        source=row.source,
        paused=row.paused,
        rate_limit=row.rate_limit,
        rate_burst=row.rate_burst,
        policy=HealthPolicy(
            circuit_after=row.circuit_after,
            cooldown=timedelta(seconds=row.circuit_cooldown_s),
            disable_after=timedelta(seconds=row.disable_after_s),
        ),
        health=Health(
            failures=row.failures,
            failing_since=row.failing_since,
            last_success_at=row.last_success_at,
            last_attempt_at=row.last_attempt_at,
            last_status_code=row.last_status_code,
            circuit_until=row.circuit_until,
        ),
        disabled_reason=row.disabled_reason,
    )
