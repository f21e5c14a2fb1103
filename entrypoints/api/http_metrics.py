"""HTTP metrics, by route template (``/items/{item_id}``, never the raw path: one series per
route, whatever ids clients send), and ``GET /metrics`` itself. The request layer
(``entrypoints/api/request_layer.py``) counts every request when metrics are on.

Across uvicorn workers the figures are summed by prometheus-client's multiprocess mode:
``stockroom serve --workers N`` (N > 1) gives every worker one ``PROMETHEUS_MULTIPROC_DIR``,
fresh at each start, and whichever worker answers ``/metrics`` reads all of them. With one
process, the default registry is the whole truth. A worker that died (and was replaced by the
server) leaves its files behind: its counters still count, but its live gauges (pool size,
connections in use) would be added to the living ones' for good, so each scrape first drops
the live gauges of the processes that no longer exist (``forget_dead_workers``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
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
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

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
        forget_dead_workers(Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]))
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


_LIVE_GAUGE_FILE = re.compile(r"gauge_live\w*_(\d+)\.db")


def forget_dead_workers(folder: Path) -> list[int]:
    """Drop the live gauges of the processes of ``folder`` that no longer exist; which ones.
    (A pid the kernel has given to a new process meanwhile would be kept: harmless, and far
    rarer than a worker dying.)"""
    dead = set()
    for path in folder.iterdir():
        match = _LIVE_GAUGE_FILE.fullmatch(path.name)
        if match and not _alive(int(match[1])):
            dead.add(int(match[1]))
    for pid in dead:
        mark_process_dead(pid, str(folder))  # type: ignore[no-untyped-call]
    return sorted(dead)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # no signal sent: only whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, as another user's
    return True
