"""The catalog: event types (active when an enabled subscription wants them) and entity kinds."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException

from deltahook.api.deps import EngineDep
from deltahook.api.errors import COMMON, responses
from deltahook.api.models import EntityKindOut, EventTypeOut
from deltahook.catalog.describe import describe_kind
from deltahook.catalog.entities import EntityKind
from deltahook.catalog.events import EventCatalog, unknown_type_message
from deltahook.delivery import subscriptions as subs
from deltahook.engine import Engine
from deltahook.rules.model import RuleSet
from deltahook.store.db import reading
from deltahook.type_usage import event_types

router = APIRouter(prefix="/v1", tags=["catalog"])


def events_of(engine: Engine) -> EventCatalog:
    assert engine.events is not None  # Engine.from_settings always loads them
    return engine.events


@router.get("/event-types", responses=responses(*COMMON), summary="Event types")
def list_event_types(engine: EngineDep) -> list[EventTypeOut]:
    """Every event type: family, category, the rules that fire it, who wants it."""
    with reading(engine.db) as conn:
        stored = subs.load(conn)
    rows = event_types(events_of(engine), engine.rules or RuleSet(()), stored)
    return [
        EventTypeOut(
            name=row["type"],
            family=row["family"],
            category=row["category"],
            description=row["description"],
            active=row["active"],
            subscriptions=row["subscriptions"],
            settings=row["settings"],
        )
        for row in rows
    ]


@router.get(
    "/event-types/{name}/schema",
    responses=responses(*COMMON, 404),
    summary="One event type's payload schema",
)
def event_type_schema(name: str, engine: EngineDep) -> dict[str, Any]:
    """The JSON Schema (draft-07) of the type's payload."""
    events = events_of(engine)
    found = events.get(name)
    if found is None:
        raise HTTPException(404, unknown_type_message(name, events.names()))
    return dict(found.schema)


@router.get("/entity-kinds", responses=responses(*COMMON), summary="Entity kinds")
def list_entity_kinds(engine: EngineDep) -> list[EntityKindOut]:
    """Every entity kind a feed may carry, with its tables, key and JSON Schema."""
    return [_kind(kind) for kind in sorted(engine.catalog, key=lambda k: k.name)]


@router.get(
    "/entity-kinds/{name}/schema",
    responses=responses(*COMMON, 404),
    summary="One entity kind's schema",
)
def entity_kind_schema(name: str, engine: EngineDep) -> dict[str, Any]:
    """The JSON Schema a record of the kind is validated against."""
    if name not in engine.catalog:
        raise HTTPException(404, f"unknown entity kind {name!r}")
    return dict(engine.catalog[name].schema)


@router.get(
    "/entity-kinds/{name}",
    responses=responses(*COMMON, 404),
    summary="One entity kind's tables, keys and fields",
)
def describe_entity_kind(name: str, engine: EngineDep) -> dict[str, Any]:
    """Each table of the kind (root first) with its key and typed fields, its parent, the
    kinds it references and the kinds that reference it (what ``deltahook schema --kind``
    prints)."""
    if name not in engine.catalog:
        raise HTTPException(404, f"unknown entity kind {name!r}")
    return describe_kind(engine.catalog, name)


def _kind(kind: EntityKind) -> EntityKindOut:
    return EntityKindOut(
        name=kind.name,
        table=kind.table,
        key=list(kind.key),
        tables=[table for table, _ in kind.tables()],
        parent=kind.parent.kind if kind.parent else None,
        scope=list(kind.scope),
        json_schema=dict(kind.schema),
    )
