"""What the connection pools are doing, per process (the first thing to look at when requests
slow down: "is the pool exhausted, and who holds the connections?"), and, with replicas,
which source served the reads and how far behind each replica is.

Gauges are per worker process (``liveall``: a ``pid`` label each), as a pool is; counters add
up across workers. Nothing here runs per request: ``watch`` hangs listeners on the events of
a new or a discarded connection, and the gauges are sampled (``PoolGauges.sample``), the
waiters too, from the count the fair pool keeps anyway (``adapters/fair_pool.py``).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.pool import QueuePool

from adapters.fair_pool import FairAsyncPool

POOL_SIZE = Gauge(
    "stockroom_pool_size", "Connections the pool keeps.", ["pool"], multiprocess_mode="liveall"
)
POOL_CHECKED_OUT = Gauge(
    "stockroom_pool_checked_out",
    "Connections in use right now (a unit of work, or a read, holds each).",
    ["pool"],
    multiprocess_mode="liveall",
)
POOL_OVERFLOW = Gauge(
    "stockroom_pool_overflow",
    "Connections open beyond the pool size (0 with the default max_overflow of 0).",
    ["pool"],
    multiprocess_mode="liveall",
)
POOL_WAITING = Gauge(
    "stockroom_pool_waiting",
    "Callers waiting for a connection right now (a full pool makes them queue).",
    ["pool"],
    multiprocess_mode="liveall",
)
POOL_OPENED = Counter("stockroom_pool_connections_opened", "New connections opened.", ["pool"])
POOL_INVALIDATED = Counter(
    "stockroom_pool_connections_invalidated",
    "Connections discarded as broken (server restart, killed backend, failed COMMIT).",
    ["pool"],
)
POOL_TIMEOUTS = Counter(
    "stockroom_pool_checkout_timeouts",
    "Callers that waited STOCKROOM_POOL_TIMEOUT for a connection in vain (each a 503).",
)


READS_SERVED = Counter(
    "stockroom_reads_served",
    "Reads of the read port by the source that served them (with replicas configured).",
    ["source"],
)
REPLICA_LAG = Gauge(
    "stockroom_replica_lag_seconds",
    "How far behind the primary each replica was at its last check.",
    ["replica"],
    multiprocess_mode="max",
)


class PoolGauges:
    """One pool's gauges. Sampled (``sample``), not updated at every checkout: a gauge write
    per checkout and checkin cost measurably on a fast read, and a scrape every few seconds
    needs the state now, not its every change. The app samples each pool every second."""

    def __init__(self, engine: Engine, name: str) -> None:
        self._engine = engine
        self._size, self._checked_out, self._overflow, self._waiting = (
            gauge.labels(name)
            for gauge in (POOL_SIZE, POOL_CHECKED_OUT, POOL_OVERFLOW, POOL_WAITING)
        )

    def sample(self) -> None:
        pool = self._engine.pool  # the current one: dispose() makes a new pool
        if isinstance(pool, QueuePool):
            self._size.set(pool.size())
            self._checked_out.set(pool.checkedout())
            self._overflow.set(max(0, pool.overflow()))
        if isinstance(pool, FairAsyncPool):
            self._waiting.set(pool.waiting())


def watch(engine: Engine, name: str) -> PoolGauges | None:
    """Count ``engine``'s new and discarded connections under the label
    ``name`` (on the engine, not the pool: a disposed engine's new pool counts too), and
    return its sampled gauges; ``None`` for a single shared connection (SQLite in memory)."""
    if not isinstance(engine.pool, QueuePool):
        return None
    opened, invalidated = POOL_OPENED.labels(name), POOL_INVALIDATED.labels(name)
    event.listen(engine, "connect", lambda *_: opened.inc())
    event.listen(engine, "invalidate", lambda *_: invalidated.inc())
    gauges = PoolGauges(engine, name)
    gauges.sample()
    return gauges


class Pools:
    """The sampled gauges of every pool of a database and its replicas."""

    def __init__(self, engines: dict[str, Engine]) -> None:
        watched = (watch(engine, name) for name, engine in engines.items())
        self.gauges = [gauges for gauges in watched if gauges is not None]

    def sample(self) -> None:
        for gauges in self.gauges:
            gauges.sample()
