"""HTTP metrics, by route template (``/items/{item_id}``, never the raw path: one series per
route, whatever ids clients send), and the listener that serves every metric to Prometheus.
The request layer (``entrypoints/api/request_layer.py``) counts every request when metrics
are on.

The listener is not the API's port (issue 26, F12): the figures (live orders, sign-ups, failed
logins, versions) are the operator's to read, not any client's. ``stockroom serve`` opens it
in its own process at ``STOCKROOM_METRICS_HOST:STOCKROOM_METRICS_PORT`` (127.0.0.1:9464 by
default, the port Prometheus exporters of OpenTelemetry use), prometheus-client's own HTTP
server on a thread, and never when metrics are off.

Across workers the figures are summed by prometheus-client's multiprocess mode: ``stockroom
serve`` gives every worker one ``PROMETHEUS_MULTIPROC_DIR``, fresh at each start, and the
listener reads all of them. With one uvicorn worker the app runs in the serve process itself,
and its default registry is the whole truth. A worker that died (and was replaced by the
server) leaves its files behind: its counters still count, but its live gauges (pool size,
connections in use) would be added to the living ones' for good, so each scrape first drops
the live gauges of the processes that no longer exist (``forget_dead_workers``). Pool gauges
are sampled every second in each worker (``entrypoints/api/app.py``).
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

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


def start_metrics_listener(host: str, port: int, workers_folder: Path | None) -> WSGIServer:
    """Serve Prometheus' text format at ``host``:``port`` (0: a free port the system picks)
    from a thread of this process, until it exits or ``shutdown()``; the server (its
    ``server_port``: where it listens). No token and no
    personal data: counts, durations and pool states by route, use case and pool, never an id,
    an email or a body. ``workers_folder``: the workers' ``PROMETHEUS_MULTIPROC_DIR``, all
    their figures summed; None: this process's own. Raises OSError when the address cannot be
    bound (taken, or not this host's)."""
    registry = REGISTRY if workers_folder is None else CollectorRegistry()
    if workers_folder is not None:
        registry.register(LivingWorkers(workers_folder))
    server, _thread = start_http_server(port, host, registry=registry)
    return server


class LivingWorkers:
    """The figures of every worker that wrote into ``folder``, less the live gauges of the
    workers that have died."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.files = MultiProcessCollector(None, path=str(folder))  # type: ignore[no-untyped-call]
        # Scrapes may overlap (a thread each): two would remove the same dead files.
        self.forgetting = threading.Lock()

    def collect(self) -> Iterable[Metric]:
        with self.forgetting:
            forget_dead_workers(self.folder)
        collected: Iterable[Metric] = self.files.collect()  # type: ignore[no-untyped-call]
        return collected


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
