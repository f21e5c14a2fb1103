"""The app factory: ``create_app(container)`` for tests and embedding, ``create_app_from_env``
for the servers (each worker process builds its own container and pool)."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import version

from fastapi import Depends, FastAPI
from fastapi.routing import APIRoute
from fastapi_offline import FastAPIOffline

from adapters.database_metrics import Pools
from entrypoints.api.consistency import ConsistencyTokens
from entrypoints.api.cors import allow_cross_origin
from entrypoints.api.drain import Drain
from entrypoints.api.errors import install_error_handlers
from entrypoints.api.maintenance import purge_periodically
from entrypoints.api.query_parameters import refuse_unknown_query_parameters
from entrypoints.api.readiness import Readiness
from entrypoints.api.request_layer import RequestLayer
from entrypoints.api.responses import EVERY_REQUEST
from entrypoints.api.routers import health, items, orders, root, users
from entrypoints.api.token_errors import without_the_token_422
from entrypoints.container import Container, build_container, running
from entrypoints.logging_config import configure_logging
from entrypoints.relay_runner import relay_in_process
from entrypoints.tracing import trace_when_configured
from service_layer.messagebus import dispatch_periodically


def _operation_id(route: APIRoute) -> str:
    """The route function's name (``get_item``, ``place_order``): what a generated client
    names its functions after. FastAPI's default adds the path and the method
    (``read_item_items__item_id__get``), and names form bodies after it."""
    return route.name


async def _sample_pools(pools: Pools, every: float = 1.0) -> None:
    """The pool gauges of this worker, fresh to the second (adapters/database_metrics.py)."""
    while True:
        pools.sample()
        await asyncio.sleep(every)


def create_app(container: Container) -> FastAPI:
    settings = container.settings()
    drain = Drain(settings.drain_seconds)
    readiness = Readiness(drain, container.database, container.replicas)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # SIGTERM turns readiness 503 at once; the server then lets the requests in flight
        # finish (--graceful-timeout) before this block ends and the pools are disposed.
        # Built now, not at the first login: without STOCKROOM_SECRET_KEY, the warning that
        # tokens are signed with a development key is in the log from start-up on.
        container.token_codec()
        async with running(container):
            with drain.begins_on_signals():
                # Known before the server accepts anything; then checked every second.
                await readiness.check()
                background = [asyncio.create_task(readiness.keep_checking())]
                if settings.metrics_enabled:
                    background.append(asyncio.create_task(_sample_pools(container.pools())))
                if settings.purge_interval_seconds:
                    purging = purge_periodically(
                        container.uow, settings.idempotency_ttl, settings.purge_interval_seconds
                    )
                    background.append(asyncio.create_task(purging))
                if settings.events_dispatch_seconds:
                    # Domain events' handlers, from the outbox, after their commits.
                    dispatching = dispatch_periodically(
                        container.uow, container.message_bus(), settings.events_dispatch_seconds
                    )
                    background.append(asyncio.create_task(dispatching))
                # The outbox relay in this worker too (issue 25; entrypoints/relay_runner.py).
                if settings.events_url and settings.events_relay_in_process:
                    background.append(asyncio.create_task(relay_in_process(container)))
                try:
                    yield
                finally:
                    for task in background:
                        task.cancel()
                    await asyncio.gather(*background, return_exceptions=True)

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
        generate_unique_id_function=_operation_id,
    )
    app.state.container = container
    app.state.drain = drain
    app.state.readiness = readiness
    # One layer for what every request gets (request id, body limit, metrics), none if all
    # are off; the consistency tokens only with replicas, inside it, so their responses carry
    # the request id too (500s get it from their handler, since Starlette's
    # ServerErrorMiddleware sits outside every middleware added here).
    if container.replicas() is not None:
        app.add_middleware(ConsistencyTokens, primary=container.database().reader)
    if settings.request_ids or settings.max_body_bytes or settings.metrics_enabled:
        app.add_middleware(
            RequestLayer,
            max_body_bytes=settings.max_body_bytes,
            request_ids=settings.request_ids,
            metrics=settings.metrics_enabled,
        )
    # Outermost (added last): a preflight is answered before the layers above count it or
    # refuse its body; with no origins set, no layer.
    allow_cross_origin(app, settings.cors_origins)
    install_error_handlers(app)
    # Every API route refuses query parameters it does not declare (a typo'd filter would
    # otherwise answer everything); the docs' routes, added by FastAPIOffline, are not these.
    for router in (root.router, health.router, items.router, users.router, orders.router):
        app.include_router(router, dependencies=[Depends(refuse_unknown_query_parameters)])
    without_the_token_422(app)
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
