"""Operations: ``/healthz`` (no key needed) and ``/metrics`` (Prometheus text format)."""

from __future__ import annotations

import logging

import anyio.to_thread
from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from deltahook.api import metrics
from deltahook.api.deps import EngineDep
from deltahook.api.errors import BUSY_RETRY_AFTER_S, CODES, COMMON
from deltahook.api.models import DispatcherHealth, Health
from deltahook.delivery import heartbeat
from deltahook.engine import Engine
from deltahook.store.db import reading

router = APIRouter(tags=["operations"])
ERROR_SCHEMA = {"schema": {"$ref": "#/components/schemas/ErrorBody"}}
logger = logging.getLogger("deltahook.api")
BUSY, UNREACHABLE = "busy", "unreachable"


@router.get(
    "/healthz",
    responses={
        503: {
            "model": Health,
            "description": "The database cannot be reached, or (database: busy, with "
            "Retry-After) every database connection of this server is in use.",
        }
    },
    response_model=Health,
    summary="Liveness and database reachability",
)
async def healthz(engine: EngineDep) -> JSONResponse:
    """200 when the database answers, 503 otherwise; says whether a dispatcher beats (a
    missing one is reported, not a failure: delivery may be left to other hosts). Needs no
    API key."""
    found = await anyio.to_thread.run_sync(_ping, engine)
    if isinstance(found, str):
        health = Health(status="unavailable", database=found, dispatcher=None)
        busy = {"Retry-After": str(BUSY_RETRY_AFTER_S)} if found == BUSY else None
        return JSONResponse(health.model_dump(), status_code=503, headers=busy)
    health = Health(status="ok", database="reachable", dispatcher=_dispatcher(found))
    return JSONResponse(health.model_dump(), status_code=200)


def _ping(engine: Engine) -> heartbeat.Liveness | str:
    """The dispatchers' liveness, or why the database could not be asked: ``BUSY`` (no
    connection of this server's pool came free in time) or ``UNREACHABLE``."""
    try:
        with reading(engine.db) as conn:
            conn.execute(text("SELECT 1"))
            return heartbeat.liveness(conn, now=engine.clock())
    except PoolTimeout as exc:
        logger.warning("health check: every database connection is in use: %s", exc)
        return BUSY
    except SQLAlchemyError as exc:
        logger.warning("health check: the database does not answer: %s", exc)
        return UNREACHABLE


def _dispatcher(alive: heartbeat.Liveness) -> DispatcherHealth:
    return DispatcherHealth(running=alive.alive, last_seen_s_ago=alive.age_s, message=alive.detail)


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    responses={
        200: {"content": {metrics.CONTENT_TYPE: {"schema": {"type": "string"}}}},
        **{
            status: {"description": CODES[status], "content": {"application/json": ERROR_SCHEMA}}
            for status in COMMON
        },
    },
    summary="Prometheus metrics",
)
def get_metrics(engine: EngineDep) -> PlainTextResponse:
    """Attempts by outcome, attempt duration, notifications by type, ingested entities by
    outcome (counted by this process), queue depth and oldest due age (from the store)."""
    body = metrics.render(engine.db, now=engine.clock())
    return PlainTextResponse(body, media_type=metrics.CONTENT_TYPE)
