"""The app factory: ``create_app(settings)`` wires the engine, the routers, keys and limits.

    app = create_app(load_settings())          # serve with uvicorn: ``deltahook serve``

Every route is a thin door over the library the command line uses: the engine for feeds,
previews and events, ``deltahook.delivery`` for subscriptions and the log.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from fastapi import Depends, FastAPI

from deltahook import __version__, console
from deltahook.api import document, errors
from deltahook.api.deps import single_query_values, storable_parameters
from deltahook.api.limits import (
    FEED_PATHS,
    BodyLimit,
    BodyPace,
    UploadSlots,
    server_pool_size,
)
from deltahook.api.methods import HeadAsGet
from deltahook.api.routes import (
    catalog,
    deliveries,
    entities,
    events,
    feeds,
    ops,
    preview,
    subscriptions,
)
from deltahook.api.security import BearerAuth, resolve_keys
from deltahook.api.targets import WellFormed
from deltahook.config import Settings
from deltahook.delivery import heartbeat
from deltahook.delivery.dispatcher import Dispatcher, DispatcherOptions
from deltahook.engine import Engine

logger = logging.getLogger("deltahook.api")


def create_app(
    settings: Settings,
    *,
    engine: Engine | None = None,
    env: Mapping[str, str] | None = None,
    deliver: DispatcherOptions | None = None,
) -> FastAPI:
    """The API over ``engine`` (by default one made from ``settings``, closed with the app).

    With ``deliver``, a dispatcher runs in the app's event loop while it serves (``deltahook
    serve`` does that unless told ``--no-deliver``). Raises ``ConfigError`` when no usable API
    key is configured.
    """
    keys = resolve_keys(settings.api_keys, env)
    owned = engine is None
    # Which syncs the config's subscriptions; with a pool for every upload and route at once.
    engine = engine or Engine.from_settings(settings, pool_size=server_pool_size(settings))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with in_process(engine, deliver):
            yield
        if owned:
            engine.close()

    app = FastAPI(
        title="deltahook",
        version=__version__,
        description="Feed changes in, webhook notifications out. Bearer API key required.",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
        dependencies=[Depends(storable_parameters), Depends(single_query_values)],
    )
    app.state.engine = engine
    for module in (feeds, entities, preview, catalog, events, subscriptions, deliveries, ops):
        app.include_router(module.router)
    # Inside the error handlers (a router-level wrapper), so its 400 is JSON, or a console page.
    app.router.middleware_stack = WellFormed(app.router.middleware_stack)
    errors.install(app)
    app.add_middleware(BodyLimit, limit_for=_limits(settings))
    app.add_middleware(
        BodyPace, window_s=settings.api_body_window_s, min_bytes=settings.api_body_window_bytes
    )
    app.add_middleware(UploadSlots, slots=settings.api_max_uploads)
    # The key check runs before any body is read; the console's gate, added last, runs first.
    app.add_middleware(BearerAuth, keys=keys, steps_aside=console.session_opens)
    console.install(app, keys=keys, engine=engine)
    app.add_middleware(HeadAsGet)  # outermost: a HEAD is a GET to every gate and route
    app.openapi = document.builder(app, engine)  # type: ignore[method-assign]
    return app


@asynccontextmanager
async def in_process(engine: Engine, options: DispatcherOptions | None) -> AsyncIterator[None]:
    """A dispatcher delivering while the block runs (none without ``options``); on the way out
    it finishes the requests in flight."""
    if options is None:
        yield
        return

    def first_beat() -> None:  # so /healthz says "running" from the first request on
        with engine.db.begin() as conn:
            heartbeat.beat(conn, options.worker_id, now=engine.clock())

    await anyio.to_thread.run_sync(first_beat)
    dispatcher = Dispatcher(engine.db, options=options, clock=engine.clock)
    running = asyncio.create_task(dispatcher.run())
    running.add_done_callback(_report_end)
    try:
        yield
    finally:
        dispatcher.stop()
        await running


def _report_end(running: asyncio.Task[Any]) -> None:
    """Say at once that the in-process dispatcher died, not only when the server stops."""
    if not running.cancelled() and running.exception() is not None:
        logger.critical(
            "the in-process dispatcher stopped; deliveries wait until the server restarts "
            "(or a `deltahook deliver` runs)",
            exc_info=running.exception(),
        )


def _limits(settings: Settings) -> Callable[[str], int]:
    def limit_for(path: str) -> int:
        is_feed = path.startswith(FEED_PATHS) and not path.endswith("/pair")
        return settings.api_max_feed_bytes if is_feed else settings.api_max_body_bytes

    return limit_for
