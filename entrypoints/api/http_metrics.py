"""HTTP metrics, by route template (``/items/{item_id}``, never the raw path: one series per
route, whatever ids clients send), and ``GET /metrics`` itself. The request layer
(``entrypoints/api/request_layer.py``) counts every request when metrics are on.

Across uvicorn workers the figures are summed by prometheus-client's multiprocess mode:
``stockroom serve --workers N`` (N > 1) gives every worker one ``PROMETHEUS_MULTIPROC_DIR``,
fresh at each start, and whichever worker answers ``/metrics`` reads all of them. With one
process, the default registry is the whole truth.
"""

from __future__ import annotations

import os
from typing import Any

from fastapi import APIRouter, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

from entrypoints.api.dependencies import PoolGauges

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


class RequestMetrics:
    """The series of each route, looked up once: ``labels()`` costs about as much as the
    update. Updated by the request layer (``entrypoints/api/request_layer.py``)."""

    def __init__(self) -> None:
        self.latency: dict[str, Any] = {}
        self.counts: dict[tuple[str, str, int], Any] = {}

    def latency_of(self, route: str) -> Any:
        series = self.latency[route] = HTTP_SECONDS.labels(route)
        return series

    def count_of(self, route: str, method: str, status: int) -> Any:
        series = self.counts[route, method, status] = HTTP_REQUESTS.labels(route, method, status)
        return series


router = APIRouter()


@router.get("/metrics", include_in_schema=False)
async def metrics(pools: PoolGauges) -> Response:
    """Prometheus' text format. No token and no personal data: counts, durations and pool
    states by route, use case and pool, never an id, an email or a body."""
    pools.sample()  # this worker's, now
    registry = REGISTRY
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:  # several workers: read them all
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
