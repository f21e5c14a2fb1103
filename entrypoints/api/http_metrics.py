"""HTTP metrics, by route template (``/items/{item_id}``, never the raw path: one series per
route, whatever ids clients send) and ``GET /metrics`` itself.

Across uvicorn workers the figures are summed by prometheus-client's multiprocess mode:
``stockroom serve --workers N`` (N > 1) gives every worker one ``PROMETHEUS_MULTIPROC_DIR``,
fresh at each start, and whichever worker answers ``/metrics`` reads all of them. With one
process, the default registry is the whole truth.
"""

from __future__ import annotations

import os
import time
from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HTTP_REQUESTS = Counter(
    "stockroom_http_requests", "Requests answered.", ["route", "method", "status"]
)
HTTP_SECONDS = Histogram(
    "stockroom_http_request_seconds",
    "Time from the request's arrival to its response's start.",
    ["route"],
    buckets=(0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
UNMATCHED = "unmatched"  # no route: the path is not a label (it is the client's to choose)

router = APIRouter()


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    """Prometheus' text format. No token and no personal data: counts, durations and pool
    states by route, use case and pool, never an id, an email or a body."""
    request.app.state.container.database().sample_pool_gauges()  # this worker's, now
    registry = REGISTRY
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:  # several workers: read them all
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


class HttpMetricsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # Each series' child, looked up once: ``labels()`` costs about as much as the update.
        self._latency: dict[str, Any] = {}
        self._counts: dict[tuple[str, str, str], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what a client gets if the app fails before it answers

        async def send_and_count(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                route = _route(scope)
                latency = self._latency.get(route)
                if latency is None:
                    latency = self._latency[route] = HTTP_SECONDS.labels(route)
                latency.observe(time.perf_counter() - started)
            await send(message)

        try:
            await self.app(scope, receive, send_and_count)
        finally:
            key = (_route(scope), scope["method"], str(status))
            count = self._counts.get(key) or self._counts.setdefault(
                key, HTTP_REQUESTS.labels(*key)
            )
            count.inc()


def _route(scope: Scope) -> str:
    route = scope.get("route")  # set by the router once a route matched
    # The template as the OpenAPI document shows it: ``/items/{item_id}``, without the
    # ``:signed`` convertor the route matches with (entrypoints/api/paths.py).
    path = getattr(route, "path_format", None)
    return path if isinstance(path, str) else UNMATCHED
