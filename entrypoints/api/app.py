"""The app factory: ``create_app(container)`` for tests and embedding, ``create_app_from_env``
for uvicorn (each worker process builds its own container and pool)."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import version

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from entrypoints.api import http_metrics
from entrypoints.api.body_guard import BodySizeGuard
from entrypoints.api.consistency import ConsistencyTokenMiddleware
from entrypoints.api.drain import Drain
from entrypoints.api.errors import install_error_handlers
from entrypoints.api.http_metrics import HttpMetricsMiddleware
from entrypoints.api.maintenance import purge_periodically
from entrypoints.api.request_id import RequestIdMiddleware
from entrypoints.api.responses import EVERY_REQUEST
from entrypoints.api.routers import health, items, orders, root, users
from entrypoints.container import Container, build_container, dispose
from entrypoints.logging_config import configure_logging
from entrypoints.tracing import trace_when_configured

MAX_BODY_BYTES = 64 * 1024


async def _sample_pools(container: Container, every: float = 1.0) -> None:
    """The pool gauges of this worker, fresh to the second (adapters/database_metrics.py)."""
    while True:
        container.database().sample_pool_gauges()
        await asyncio.sleep(every)


def create_app(container: Container) -> FastAPI:
    drain = Drain()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # SIGTERM turns readiness 503 at once; the server then lets the requests in flight
        # finish (--graceful-timeout) before this block ends and the pools are disposed.
        # Built now, not at the first login: without STOCKROOM_SECRET_KEY, the warning that
        # tokens are signed with a development key is in the log from start-up on.
        container.token_codec()
        with drain.begins_on_signals():
            settings = container.settings()
            background = []
            if settings.metrics_enabled:
                background.append(asyncio.create_task(_sample_pools(container)))
            if settings.purge_interval_seconds:
                purging = purge_periodically(container, settings.purge_interval_seconds)
                background.append(asyncio.create_task(purging))
            try:
                yield
            finally:
                for task in background:
                    task.cancel()
                await asyncio.gather(*background, return_exceptions=True)
                await dispose(container)

    # FastAPIOffline is FastAPI with /docs and /redoc served from Swagger UI's and ReDoc's
    # files in the fastapi-offline package, under /static-offline-docs/, instead of a CDN: the
    # docs render without internet access (tests/integration/test_docs_browser.py).
    app = FastAPIOffline(
        docs_url=root.DOCS_PATH,
        redoc_url=root.REDOC_PATH,
        title="Stockroom",
        version=version("stockroom"),
        summary="A shop's catalog, stock, customers and orders.",
        lifespan=lifespan,
        responses=EVERY_REQUEST,  # what the header and body guards answer to any request
    )
    app.state.container = container
    app.state.drain = drain
    # The last middleware added is the outermost: the request id is set before anything else
    # runs, so the body guard's 413s carry it too (500s get it from their handler, since
    # Starlette's ServerErrorMiddleware sits outside every middleware added here). Our
    # largest legitimate body, an order of 100 lines, is a few KiB.
    app.add_middleware(ConsistencyTokenMiddleware)
    app.add_middleware(BodySizeGuard, max_body_bytes=MAX_BODY_BYTES)
    app.add_middleware(RequestIdMiddleware)
    if container.settings().metrics_enabled:  # outermost: every request is counted
        app.add_middleware(HttpMetricsMiddleware)
        app.include_router(http_metrics.router)
    install_error_handlers(app)
    app.include_router(root.router)
    app.include_router(health.router)
    app.include_router(items.router)
    app.include_router(users.router)
    app.include_router(orders.router)
    return app


def create_app_from_env() -> FastAPI:
    container = build_container()
    # Each worker builds its settings from the environment; uvicorn's log_config (serve)
    # already did this, but any other server running this factory needs it here.
    configure_logging(container.settings().log_format, container.settings().log_level)
    app = create_app(container)
    trace_when_configured(app, container)  # only with OTEL_EXPORTER_OTLP_ENDPOINT set
    # What exists now (the imported modules, the app, its routes and schemas) lives as long as
    # the worker. Frozen, it is out of the cyclic collector's sight: a full collection no
    # longer walks all of it in the middle of somebody's request (docs/session-lifecycle.md).
    gc.collect()
    gc.freeze()
    return app
