"""Streaming replicas for the read port: which one may serve a read, and when none may; and
the positions in the primary's WAL that make read-your-writes work (consistency tokens).

Plugged in by the container only when replicas are configured (``replica_reads``): without
them, nothing here runs. A replica serves a read when it is up, no further behind than
``max_lag`` seconds, and, for a read that carries a position (the WAL position a write
returned, in ``read_after``), has replayed at least that far. What a replica has replayed is
cached for a few milliseconds and asked again only when a read needs more than the cache
shows, one question per replica at a time. A replica that fails a check or a read is out of
rotation until ``recheck`` seconds have passed. When no replica will do within ``wait``
seconds, the caller reads from the primary: a read never fails, and never comes back staler
than asked for, because of a replica.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import time
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Executable, RowMapping, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters import postgres
from adapters.database_metrics import READS_SERVED, REPLICA_LAG
from adapters.pool import PoolSettings
from adapters.postgres import Pooler
from adapters.reads import EngineReader, SqlAlchemyReads, StatementReader
from service_layer.errors import DatabaseUnavailable, MalformedReadPosition

log = logging.getLogger(__name__)

_POSITION = re.compile(
    r"^([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})$"
)  # an LSN, as PostgreSQL prints it
# Lag is zero when everything received is replayed (an idle primary is no lag).
_STATE = text(
    "SELECT pg_last_wal_replay_lsn()::text AS replayed,"
    " CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0"
    " ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 0) END AS lag"
)
POSITION_NOW = text("SELECT pg_current_wal_lsn()::text")  # asked of the primary after a write

# The consistency token the current request sent (``X-Consistency-Token``, as sent: it is
# parsed when a read needs it, so a malformed one fails only a request that reads). Set by
# the HTTP layer that exists only with replicas (entrypoints/api/consistency.py).
read_after: ContextVar[str | None] = ContextVar("stockroom_read_after", default=None)


def parse_position(given: str) -> int:
    """``X/Y`` (hexadecimal) as one number, or ``MalformedReadPosition``."""
    match = _POSITION.fullmatch(given.strip())
    if match is None:
        raise MalformedReadPosition(given)
    return (int(match[1], 16) << 32) + int(match[2], 16)


@dataclass
class ReplicaState:
    replayed: int = 0
    lag: float = 0.0
    checked_at: float = float("-inf")
    up: bool = True


class Replica:
    def __init__(self, name: str, engine: AsyncEngine) -> None:
        self.name = name
        self.engine = engine
        self.reader = EngineReader(engine.execution_options(isolation_level="AUTOCOMMIT"))
        self.state = ReplicaState()
        self._checking: asyncio.Task[None] | None = None

    async def refresh(self, within: float) -> None:
        """Ask the replica how far it has replayed; one question at a time, shared."""
        if self._checking is None or self._checking.done():
            self._checking = asyncio.ensure_future(self._check(within))
        await asyncio.shield(self._checking)

    async def _check(self, within: float) -> None:
        try:
            async with asyncio.timeout(within):
                (row,) = await self.reader.fetch_all(_STATE, {})
        except Exception as error:  # down, refusing, too slow: out of rotation for now
            self.mark_down(error)
            return
        self.state = ReplicaState(
            replayed=parse_position(row["replayed"]) if row["replayed"] else 0,
            lag=float(row["lag"]),
            checked_at=time.monotonic(),
        )
        REPLICA_LAG.labels(self.name).set(self.state.lag)

    def mark_down(self, error: BaseException) -> None:
        if self.state.up:
            log.warning("replica %s out of rotation: %s", self.name, error)
        self.state = ReplicaState(self.state.replayed, self.state.lag, time.monotonic(), up=False)


class ReplicaSet:
    def __init__(
        self, replicas: list[Replica], *, max_lag: float, wait: float, recheck: float = 1.0
    ) -> None:
        self.replicas = replicas
        self.max_lag = max_lag  # seconds behind the primary a replica may be and still serve
        self.wait = wait  # how long a read with a position may wait for a replica to catch up
        self.recheck = recheck  # seconds between checks of a healthy or a failed replica
        self._turns = itertools.cycle(range(len(replicas)))
        self.fresh_for = 0.005  # seconds a replayed position is trusted without asking again

    async def choose(self, at_least: int | None) -> Replica | None:
        """A replica that may serve this read, or ``None``: read from the primary."""
        deadline = time.monotonic() + (self.wait if at_least is not None else 0.0)
        while True:
            start = next(self._turns)
            for replica in self.replicas[start:] + self.replicas[:start]:
                if await self._serves(replica, at_least):
                    return replica
            if time.monotonic() >= deadline:
                return None
            await asyncio.sleep(self.fresh_for)  # replay moves on its own: look again shortly

    async def _serves(self, replica: Replica, at_least: int | None) -> bool:
        state, age = replica.state, time.monotonic() - replica.state.checked_at
        if not state.up and age < self.recheck:
            return False  # failed a moment ago: not until its next check
        # A replayed position only grows, so a cached one that is far enough stays true.
        reached = at_least is None or state.replayed >= at_least
        if state.up and reached and age < self.recheck:
            return state.lag <= self.max_lag
        if state.up and not reached and age < self.fresh_for:
            return False  # asked a moment ago, and not there yet
        await replica.refresh(within=min(1.0, self.recheck))
        state = replica.state
        reached = at_least is None or state.replayed >= at_least
        return state.up and state.lag <= self.max_lag and reached

    async def check_all(self, within: float) -> None:
        await asyncio.gather(*(replica.refresh(within) for replica in self.replicas))

    def statuses(self) -> dict[str, str]:
        """What readiness reports: each replica in rotation or not, and why."""
        return {
            replica.name: "ok"
            if replica.state.up and replica.state.lag <= self.max_lag
            else ("down" if not replica.state.up else f"lagging {replica.state.lag:.1f} s")
            for replica in self.replicas
        }

    def engines(self) -> dict[str, Engine]:
        return {replica.name: replica.engine.sync_engine for replica in self.replicas}

    async def dispose(self) -> None:
        for replica in self.replicas:
            await replica.engine.dispose()


class ReplicaReader:
    """Each statement on a replica that will do for this request, else on the primary: a
    replica never turns a read that would succeed into an error."""

    def __init__(self, primary: StatementReader, replicas: ReplicaSet) -> None:
        self._primary = primary
        self._replicas = replicas

    async def fetch_all(
        self, statement: Executable, parameters: Mapping[str, Any]
    ) -> list[RowMapping]:
        token = read_after.get()
        replica = await self._replicas.choose(parse_position(token) if token is not None else None)
        if replica is not None:
            try:
                rows = await replica.reader.fetch_all(statement, parameters)
            except DatabaseUnavailable as error:
                replica.mark_down(error)  # and read from the primary below
            else:
                READS_SERVED.labels(replica.name).inc()
                return rows
        READS_SERVED.labels("primary").inc()
        return await self._primary.fetch_all(statement, parameters)


def replica_reads(primary: StatementReader, replicas: ReplicaSet) -> SqlAlchemyReads:
    """The read port when replicas are configured: its reads may come from a replica, its
    ``latest`` reads never do."""
    return SqlAlchemyReads(ReplicaReader(primary, replicas), latest=SqlAlchemyReads(primary))


async def position_now(primary: StatementReader) -> str:
    """Where the primary's WAL is now: after a write's commit, a position that covers it."""
    (row,) = await primary.fetch_all(POSITION_NOW, {})
    return str(next(iter(row.values())))


def replica_set(
    urls: Sequence[str],
    pool: PoolSettings,
    pooler: Pooler,
    echo: bool,
    *,
    max_lag: float,
    wait: float,
) -> ReplicaSet:
    """Each replica with a pool of its own, set up as the primary is (driver, pooler)."""
    # Named by their place in STOCKROOM_REPLICA_URLS: readiness is public, hosts are not.
    replicas = [
        Replica(f"replica {n}", postgres.create_engine(make_url(url), pool, pooler, echo))
        for n, url in enumerate(urls, start=1)
    ]
    return ReplicaSet(replicas, max_lag=max_lag, wait=wait)
