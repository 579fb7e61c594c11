"""Entities: read back what the store holds for one entity (``GET /v1/entities/{kind}/{key}``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException

from deltahook.api.deps import EngineDep
from deltahook.api.errors import COMMON, responses
from deltahook.api.models import Model
from deltahook.api.routes.feeds import known_kind
from deltahook.changes.canonical import no_entity_message

router = APIRouter(prefix="/v1", tags=["entities"])


class EntityOut(Model):
    """A stored entity: its snapshot, version, times, last job and recent notifications."""

    kind: str
    key: str
    parent_key: str | None
    scope: str
    version: int
    created_at: datetime
    updated_at: datetime
    last_job: dict[str, Any] | None
    snapshot: dict[str, Any]
    notifications: list[dict[str, Any]]


@router.get(
    "/entities/{kind}/{key:path}",
    responses=responses(*COMMON, 404, 422),
    summary="A stored entity",
)
def get_entity(kind: str, key: str, engine: EngineDep) -> EntityOut:
    """The snapshot the store holds for ``key`` (a composite key's parts joined by ``|``),
    with the job that last wrote it and its newest notifications and their deliveries."""
    known_kind(engine, kind)
    found = engine.snapshot(kind, key)
    if found is None:
        raise HTTPException(404, no_entity_message(engine.catalog[kind], key))
    return EntityOut.model_validate(found.to_json())
