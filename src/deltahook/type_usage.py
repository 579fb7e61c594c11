"""Which rules and subscriptions use each event type (for ``deltahook types``)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from deltahook.bootstrap import open_store
from deltahook.catalog.entities import load_catalog
from deltahook.catalog.events import EventCatalog, load_event_catalog
from deltahook.config import Settings
from deltahook.delivery.subscriptions import Subscription
from deltahook.errors import StoreError
from deltahook.rules.loader import load_rules
from deltahook.rules.model import RuleSet
from deltahook.store.db import reading
from deltahook.store.tables import subscriptions


def type_usage(settings: Settings) -> list[dict[str, Any]]:
    """One row per event type: family, category, the settings that fire it, its subscribers."""
    events = load_event_catalog(settings.event_schemas_dir)
    catalog = load_catalog(settings.entity_schemas_dir)
    rules = load_rules(
        settings.rules_dir, catalog=catalog, events=events, constants=settings.constants
    )
    return usage(events, rules, _subscribers(settings))


def usage(
    events: EventCatalog, rules: RuleSet, wanted: Mapping[str, Collection[str]]
) -> list[dict[str, Any]]:
    """One row per event type, given the event types each subscription wants (by name)."""
    return [
        {
            "type": event.name,
            "family": event.family,
            "category": event.category,
            "description": event.description,
            "settings": [s.uid for s in rules if s.type == event.name],
            "subscriptions": sorted(
                name for name, types in wanted.items() if event.name in types or "*" in types
            ),
        }
        for event in sorted(events, key=lambda e: (e.family != "notification", e.name))
    ]


def event_types(
    events: EventCatalog, rules: RuleSet, stored: Sequence[Subscription]
) -> list[dict[str, Any]]:
    """``usage`` over the stored subscriptions, each row also saying whether it is ``active``:
    some enabled subscription wants the type (what the API and the console list)."""
    rows = usage(events, rules, {s.name: s.event_types for s in stored})
    enabled = [s for s in stored if s.enabled]
    for row in rows:
        row["active"] = any(s.wants(row["type"]) for s in enabled)
    return rows


def _subscribers(settings: Settings) -> dict[str, set[str]]:
    """Event types per subscription: the config file's, and the store's when it has any."""
    found = {sub.name: set(sub.event_types) for sub in settings.subscriptions}
    try:
        db = open_store(settings, check_schema=False, sync_subscriptions=False)
        try:
            with reading(db) as conn:
                rows = conn.execute(select(subscriptions.c.name, subscriptions.c.event_types))
                for name, types in rows:
                    found.setdefault(name, set()).update(orjson.loads(types))
        finally:
            db.dispose()
    except (SQLAlchemyError, StoreError):
        pass  # no store yet (or not reachable): the config file's subscriptions are the answer
    return found
