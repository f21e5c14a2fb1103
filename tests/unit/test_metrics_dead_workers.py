"""Metrics that forget dead workers (issue 23): across workers, a worker that died leaves its
files; its live gauges (pool size, connections in use) must stop adding to the living ones'
(measured before: the pool size read 60 instead of 40 after a worker crashed), while every
counter it counted still counts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector

from entrypoints.api.http_metrics import forget_dead_workers

WORKER = """
import os, sys
os.environ["PROMETHEUS_MULTIPROC_DIR"] = sys.argv[1]
from prometheus_client import Counter, Gauge
Gauge("pool_size", "", multiprocess_mode="liveall").set(10)
Gauge("open", "", multiprocess_mode="livesum").set(3)
Counter("answered", "").inc(7)
"""


def _a_worker_that_has_exited(folder: Path) -> int:
    """A real process that wrote its metrics and exited: its pid no longer exists."""
    worker = subprocess.run(  # noqa: S603 - our own snippet
        [sys.executable, "-c", WORKER, str(folder)], check=True, capture_output=True
    )
    assert worker.returncode == 0
    (path,) = folder.glob("gauge_liveall_*.db")
    return int(path.stem.rsplit("_", 1)[1])


def _collected(folder: Path) -> dict[str, float]:
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(folder))  # type: ignore[no-untyped-call]
    return {
        sample.name: sample.value
        for metric in registry.collect()
        for sample in metric.samples
        if sample.name in ("pool_size", "open", "answered_total")
    }


def test_a_dead_workers_live_gauges_are_dropped_and_its_counters_kept(tmp_path: Path) -> None:
    dead = _a_worker_that_has_exited(tmp_path)
    assert _collected(tmp_path) == {"pool_size": 10.0, "open": 3.0, "answered_total": 7.0}

    assert forget_dead_workers(tmp_path) == [dead]

    assert _collected(tmp_path) == {"answered_total": 7.0}  # no pool of a dead worker


def test_a_living_workers_gauges_stay(tmp_path: Path) -> None:
    own = tmp_path / f"gauge_liveall_{os.getpid()}.db"
    own.write_bytes(b"")  # this process, alive
    assert forget_dead_workers(tmp_path) == []
    assert own.exists()
