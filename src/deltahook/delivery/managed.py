"""Subscriptions made, changed and deleted at run time (over the HTTP API).

They live in the one ``subscriptions`` table beside the config file's, with ``source='api'``,
and the dispatcher and the outbox treat both alike. The config file stays the owner of what
it declares: its subscriptions can only be switched on and off here (``set_enabled``), and a
name it declares cannot be taken. New and changed subscriptions pass the same validation as
the file's (``SubscriptionSettings``), private-address check included.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Connection, delete, insert, update

from deltahook.catalog.events import unknown_type_message
from deltahook.delivery import queue
from deltahook.delivery.settings import SubscriptionSettings, check_url_target
from deltahook.delivery.subscriptions import (
    FROM_CONFIG,
    REMOVED,
    Subscription,
    get,
    set_enabled,
    settings_values,
    shown_url,
)
from deltahook.errors import SubscriptionConflictError, UnknownSubscriptionError
from deltahook.store.tables import subscriptions

FROM_API = "api"
CHANGEABLE = frozenset({"url", "event_types", "headers", "secrets", "enabled"})
"""What ``change`` may touch; the rest is set when a subscription is made."""


def validated(
    data: Mapping[str, Any], *, allow_private: bool, known_types: Collection[str] | None = None
) -> SubscriptionSettings:
    """``data`` as subscription settings; raises pydantic's ``ValidationError`` otherwise.

    With ``known_types``, an event type outside them (``*`` aside) is an error too, with the
    closest known names as a suggestion.
    """
    settings = SubscriptionSettings.model_validate(dict(data))
    problems: list[Any] = []  # pydantic_core's InitErrorDetails
    try:
        check_url_target(settings.url, allow_private=allow_private)
    except ValueError as exc:
        problems.append(_value_error(("url",), settings.url, str(exc)))
    if known_types is not None:
        names = tuple(sorted(known_types))
        problems.extend(
            _value_error(("event_types", i), name, unknown_type_message(name, names))
            for i, name in enumerate(settings.event_types)
            if name != "*" and name not in known_types
        )
    if problems:
        raise ValidationError.from_exception_data("SubscriptionSettings", problems)
    return settings


def _value_error(loc: tuple[str | int, ...], value: str, message: str) -> dict[str, Any]:
    return {
        "type": "value_error",
        "loc": loc,
        "input": value,
        "ctx": {"error": ValueError(message)},
    }


def create(
    conn: Connection, settings: SubscriptionSettings, *, declared: frozenset[str], now: datetime
) -> Subscription:
    """Store a new subscription; ``declared`` are the names the config file owns."""
    if settings.name in declared:
        raise SubscriptionConflictError(
            f"the config file declares a subscription named {settings.name!r}"
        )
    try:
        existing = get(conn, settings.name)
    except UnknownSubscriptionError:
        existing = None
    if existing is not None:
        raise SubscriptionConflictError(f"a subscription named {settings.name!r} exists already")
    values = settings_values(settings) | {"config_enabled": None}
    conn.execute(
        insert(subscriptions).values(
            name=settings.name,
            enabled=settings.enabled,
            source=FROM_API,
            created_at=now,
            updated_at=now,
            **values,
        )
    )
    return get(conn, settings.name)


def change(
    conn: Connection,
    name: str,
    changes: Mapping[str, Any],
    *,
    allow_private: bool,
    now: datetime,
    known_types: Collection[str] | None = None,
) -> Subscription:
    """Change URL, event types, headers, secrets or on/off; the file's own only on/off."""
    current = get(conn, name, locked=True)
    unknown = sorted(set(changes) - CHANGEABLE)
    if unknown:
        raise SubscriptionConflictError(f"cannot change {', '.join(unknown)} of a subscription")
    settings_changes = {k: v for k, v in changes.items() if k != "enabled"}
    if settings_changes.get("url") == shown_url(current.url):  # as listed: its password kept
        settings_changes["url"] = current.url
    if settings_changes and current.source != FROM_API:
        raise SubscriptionConflictError(owned_elsewhere(current))
    if settings_changes:
        settings = validated(
            as_settings(current) | settings_changes,
            allow_private=allow_private,
            known_types=known_types,
        )
        values = settings_values(settings) | {"config_enabled": None}
        conn.execute(
            update(subscriptions)
            .where(subscriptions.c.name == name)
            .values(updated_at=now, **values)
        )
    if "enabled" in changes:
        set_enabled(conn, name, enabled=bool(changes["enabled"]), now=now)
    return get(conn, name)


def remove(conn: Connection, name: str, *, now: datetime) -> int:
    """Delete a subscription made over the API; its queued deliveries end as dead.

    Returns how many queued deliveries were ended. Delivered and dead ones stay in the log.
    """
    current = get(conn, name, locked=True)  # queued by a batch still open: waited for
    if current.source in (FROM_CONFIG, REMOVED):
        raise SubscriptionConflictError(owned_elsewhere(current))
    ended = queue.end_queued(conn, name, "the subscription was deleted", now=now)
    conn.execute(delete(subscriptions).where(subscriptions.c.name == name))
    return ended


def as_settings(sub: Subscription) -> dict[str, Any]:
    """A stored subscription as the settings that would make it."""
    return {
        "name": sub.name,
        "url": sub.url,
        "event_types": sorted(sub.event_types),
        "enabled": sub.enabled,
        "headers": dict(sub.headers),
        "secrets": list(sub.secrets),
        "header_style": sub.header_style,
        "timeout": sub.timeout,
        "retry_schedule": [d.total_seconds() for d in sub.schedule],
        "max_concurrency": sub.max_concurrency,
        "rate_limit": sub.rate_limit,
        "rate_burst": sub.rate_burst,
        "circuit_after": sub.policy.circuit_after,
        "circuit_cooldown": sub.policy.cooldown.total_seconds(),
        "disable_after": sub.policy.disable_after.total_seconds(),
    }


def owned_elsewhere(sub: Subscription) -> str:
    """Why the settings of a subscription not made over the API cannot be changed here."""
    if sub.source == REMOVED:
        return f"subscription {sub.name!r} was removed from the config file; declare it there"
    return (
        f"subscription {sub.name!r} is declared in the config file: change it there "
        "(only on/off can be switched here)"
    )
