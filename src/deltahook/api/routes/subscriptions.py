"""Subscriptions: list, create, change, delete, test-send, and recover what one missed.

One source of truth, the ``subscriptions`` table: the config file's subscriptions are synced
into it when the server starts, and only switched on and off here; the ones made here are the
API's to change and delete (see ``deltahook.delivery.managed``).
"""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from fastapi import APIRouter

from deltahook.api.delivery_models import (
    Deleted,
    RecoverIn,
    RecoverOut,
    SubscriptionIn,
    SubscriptionOut,
    SubscriptionPatch,
    TestSendOut,
)
from deltahook.api.deps import EngineDep, JSONBodyRoute
from deltahook.api.errors import COMMON, responses
from deltahook.catalog.events import load_event_catalog
from deltahook.delivery import log, managed
from deltahook.delivery import subscriptions as subs
from deltahook.delivery.testsend import send_test
from deltahook.engine import Engine
from deltahook.store.db import reading

router = APIRouter(prefix="/v1", tags=["subscriptions"], route_class=JSONBodyRoute)


def known_types(engine: Engine) -> frozenset[str]:
    """The event types a subscription may name: those of the engine's event catalog."""
    events = engine.events or load_event_catalog(engine.settings.event_schemas_dir)
    return frozenset(events.names())


def declared(engine: Engine) -> frozenset[str]:
    """The names the config file owns: none of them can be created here."""
    return frozenset(s.name for s in engine.settings.subscriptions)


def out(sub: subs.Subscription) -> SubscriptionOut:
    return SubscriptionOut(**sub.summary(), headers=sorted(sub.headers))


@router.get("/subscriptions", responses=responses(*COMMON), summary="Subscriptions")
def list_subscriptions(engine: EngineDep) -> list[SubscriptionOut]:
    """Every subscription, from the config file and made here, by name."""
    with reading(engine.db) as conn:
        return [out(s) for s in subs.load(conn)]


@router.post(
    "/subscriptions",
    status_code=201,
    responses=responses(*COMMON, 400, 409, 415, 422),
    summary="Create a subscription",
)
def create_subscription(body: SubscriptionIn, engine: EngineDep) -> SubscriptionOut:
    """A new subscription; a name the config file declares, or one taken, answers 409."""
    data = body.model_dump(exclude_none=True)
    settings = managed.validated(
        data, allow_private=engine.settings.allow_private_urls, known_types=known_types(engine)
    )
    with engine.db.begin() as conn:
        return out(managed.create(conn, settings, declared=declared(engine), now=engine.clock()))


@router.get("/subscriptions/{name}", responses=responses(*COMMON, 404), summary="One subscription")
def get_subscription(name: str, engine: EngineDep) -> SubscriptionOut:
    with reading(engine.db) as conn:
        return out(subs.get(conn, name))


@router.patch(
    "/subscriptions/{name}",
    responses=responses(*COMMON, 400, 404, 409, 415, 422),
    summary="Change a subscription",
)
def change_subscription(name: str, body: SubscriptionPatch, engine: EngineDep) -> SubscriptionOut:
    """Change URL, event types, headers, secrets or on/off (config-declared: on/off only)."""
    changes: dict[str, Any] = body.model_dump(exclude_none=True)
    with engine.db.begin() as conn:
        changed = managed.change(
            conn,
            name,
            changes,
            allow_private=engine.settings.allow_private_urls,
            now=engine.clock(),
            known_types=known_types(engine),
        )
    return out(changed)


@router.delete(
    "/subscriptions/{name}", responses=responses(*COMMON, 404, 409), summary="Delete one"
)
def delete_subscription(name: str, engine: EngineDep) -> Deleted:
    """Delete a subscription made over the API; its queued deliveries end as dead."""
    with engine.db.begin() as conn:
        ended = managed.remove(conn, name, now=engine.clock())
    return Deleted(name=name, ended_deliveries=ended)


@router.post(
    "/subscriptions/{name}/test",
    responses=responses(*COMMON, 404, 409),
    summary="Send a test event",
)
async def test_subscription(name: str, engine: EngineDep) -> TestSendOut:
    """Send a ``TestEvent`` now (on or off) and report the answer; nothing is stored."""
    sub = await anyio.to_thread.run_sync(_get, engine, name)
    report = await send_test(
        sub,
        constants=engine.settings.constants,
        now=engine.clock(),
        allow_private=engine.settings.allow_private_urls,
    )
    return TestSendOut(**report)


@router.post(
    "/subscriptions/{name}/recover",
    responses=responses(*COMMON, 400, 404, 409, 415, 422),
    summary="Queue again what a subscription missed",
)
def recover(name: str, body: RecoverIn, engine: EngineDep) -> RecoverOut:
    """Queue every failed or dead delivery of the subscription queued in the window, due now."""
    with engine.db.begin() as conn:
        count = log.recover(conn, name, since=body.since, until=body.until, now=engine.clock())
    return RecoverOut(subscription=name, queued=count)


def _get(engine: Engine, name: str) -> subs.Subscription:
    with reading(engine.db) as conn:
        return subs.get(conn, name)
