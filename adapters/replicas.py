"""Streaming replicas for the read port: which one may serve a read, and when none may; and
the positions in the primary's WAL that make read-your-writes work (consistency tokens).

Plugged in by the container only when replicas are configured (``replica_reads``). A replica
serves a read when it answers, receives WAL, holds all the primary had ``max_lag`` seconds ago
and, for a read with a position (a write's, in ``read_after``), has replayed that far; else
the primary does. Every check and read on a replica has a deadline that holds whatever the
server does; a replica that misses one is out of rotation until a background check finds it
answering.

Lag is not the replica's own figure (now minus its last replayed commit's time): that reads 0
when the replica stops receiving, and grows while the primary is merely idle. Instead the
primary's WAL position is sampled (at most every ``SAMPLE_EVERY``): a replica that has
replayed a sample's position holds every commit that had returned when the sample was asked
for, and its lag is the time since the newest such sample, an upper bound that grows by
itself between checks.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import logging
import math
import re
import time
from collections import deque
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any

from sqlalchemy import Executable, RowMapping, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters import postgres
from adapters.database_metrics import READS_SERVED, REPLICA_LAG
from adapters.pool import PoolSettings
from adapters.postgres import Pooler
from adapters.reads import SqlAlchemyReads, StatementReader
from service_layer.errors import MalformedReadPosition

log = logging.getLogger(__name__)

# A lean read takes milliseconds: a replica silent for a second is not worth waiting on, the
# primary answers instead. The same second as readiness' dependency check.
DEADLINE_SECONDS = 1.0
SAMPLE_EVERY = 0.1  # the primary is asked at most this often: lag known to a tenth of a second

_POSITION = re.compile(r"^([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})$")  # an LSN, as printed
_STATE = text(
    "SELECT pg_last_wal_replay_lsn()::text AS replayed,"
    " (SELECT count(*) FROM pg_stat_wal_receiver) > 0 AS receiving"  # a row while connected
)
POSITION_NOW = text("SELECT pg_current_wal_lsn()::text")  # asked of the primary after a write

# The consistency token the request sent (``X-Consistency-Token``), parsed only if a read needs
# it. Set by the HTTP layer that exists only with replicas (entrypoints/api/consistency.py).
read_after: ContextVar[str | None] = ContextVar("stockroom_read_after", default=None)


def parse_position(given: str) -> int:
    """``X/Y`` (hexadecimal) as one number, or ``MalformedReadPosition``."""
    match = _POSITION.fullmatch(given.strip())
    if match is None:
        raise MalformedReadPosition(given)
    return (int(match[1], 16) << 32) + int(match[2], 16)


class Replica:
    """A replica's pool, and what its last check found."""

    def __init__(self, name: str, engine: AsyncEngine) -> None:
        self.name, self.engine = name, engine
        self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
        self.up, self.receiving, self.replayed, self.checked_at = True, False, 0, -math.inf
        # time.monotonic() when the primary had no more than ``replayed``: the replica holds
        # every commit that had returned by then (-inf: nothing known).
        self.current_as_of = -math.inf
        self.checking: asyncio.Task[None] | None = None

    @property
    def lag(self) -> float:  # seconds of commits it may be missing (inf: not known to hold any)
        return time.monotonic() - self.current_as_of

    async def fetch_all(
        self, statement: Executable, parameters: Mapping[str, Any], within: float
    ) -> list[RowMapping]:
        """Rows, or an exception within ``within`` seconds for a connection and as many for the
        statement, whatever the replica does."""
        async with asyncio.timeout(within):  # a pool checkout, or a connect never answered
            connection = await self._autocommit.connect()
        driver = (await connection.get_raw_connection()).driver_connection
        # At the deadline the connection is ended under the statement, which then fails at
        # once. A timeout that cancels the await would not hold: psycopg answers a cancel by
        # sending the server a cancel request and waiting for the answer (5 s, and 5 more),
        # and a hung server (SIGSTOP) accepts the request and never answers.
        ending = asyncio.get_running_loop().call_later(within, postgres.abandon, driver)
        try:
            return list((await connection.execute(statement, parameters)).mappings())
        except BaseException:
            # Never back to the pool: it may still be waiting on the statement, or on a cancel
            # request the driver sent, and the next read would wait with it.
            postgres.abandon(driver)
            await connection.invalidate()
            raise
        finally:
            ending.cancel()
            await connection.close()

    def mark_down(self, error: BaseException) -> None:
        if self.up:
            log.warning("replica %s out of rotation: %s", self.name, error)
        self.up, self.checked_at = False, time.monotonic()


class ReplicaSet:
    def __init__(
        self,
        replicas: list[Replica],
        *,
        max_lag: float,
        wait: float,
        primary: StatementReader,
        recheck: float = 1.0,
    ) -> None:
        self.replicas = replicas
        self.max_lag = max_lag  # seconds behind the primary a replica may be and still serve
        self.wait = wait  # how long a read with a position may wait for a replica to catch up
        self.recheck = recheck  # seconds between checks of a healthy or a failed replica
        self.fresh_for = 0.005  # seconds a replayed position is trusted without asking again
        # What serves a read no replica will do for, and lag's reference (its WAL position).
        self.primary = primary
        self._turns = itertools.cycle(range(len(replicas)))
        self._samples: deque[tuple[float, int]] = deque(maxlen=600)  # (when, where)
        self._sampling: asyncio.Task[None] | None = None

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
        age = time.monotonic() - replica.checked_at
        if not replica.up:
            if age >= self.recheck:
                self._check_soon(replica, DEADLINE_SECONDS)  # in the background: no read waits
            return False
        # A replayed position only grows, and the lag bound is as of a time: cached, both stay
        # true. A healthy replica's check takes milliseconds, a hung one's its deadline.
        if age >= self.recheck or (
            at_least is not None and replica.replayed < at_least and age >= self.fresh_for
        ):
            await asyncio.shield(self._check_soon(replica, min(DEADLINE_SECONDS, self.recheck)))
        reached = at_least is None or replica.replayed >= at_least
        # One that receives nothing falls behind at the primary's next commit: out now.
        return replica.up and replica.receiving and replica.lag <= self.max_lag and reached

    def _check_soon(self, replica: Replica, within: float) -> asyncio.Task[None]:
        """Check the replica now; one check at a time, shared by whoever asks meanwhile."""
        if replica.checking is None or replica.checking.done():
            replica.checking = asyncio.create_task(self._check(replica, within))
        return replica.checking

    async def _check(self, replica: Replica, within: float) -> None:
        try:
            (row,), _ = await asyncio.gather(
                replica.fetch_all(_STATE, {}, within), self._sample_primary(within)
            )
        except Exception as error:  # down, refusing, too slow: out of rotation for now
            replica.mark_down(error)
            return
        replayed = parse_position(row["replayed"]) if row["replayed"] else 0
        # Positions grow with time: the newest sample it holds says as of when it is current.
        newer = bisect.bisect_right(self._samples, replayed, key=lambda sample: sample[1])
        current_as_of = self._samples[newer - 1][0] if newer else -math.inf
        replica.up, replica.receiving, replica.replayed = True, row["receiving"], replayed
        replica.current_as_of, replica.checked_at = current_as_of, time.monotonic()
        REPLICA_LAG.labels(replica.name).set(replica.lag)

    async def _sample_primary(self, within: float) -> None:
        """Ask the primary where its WAL is, unless a sample is recent; one question at a time."""
        recent = self._samples and time.monotonic() - self._samples[-1][0] < SAMPLE_EVERY
        if not recent:
            if self._sampling is None or self._sampling.done():
                self._sampling = asyncio.create_task(self._ask_primary(self.primary, within))
            await asyncio.wait({self._sampling}, timeout=within)  # else older samples: staler

    async def _ask_primary(self, primary: StatementReader, within: float) -> None:
        asked_at = time.monotonic()  # each commit that returned before this is at or below it
        try:
            async with asyncio.timeout(within):
                self._samples.append((asked_at, parse_position(await position_now(primary))))
        except Exception as error:
            log.warning("the primary's WAL position: no answer (%s)", error)

    async def fetch_all(
        self, statement: Executable, parameters: Mapping[str, Any]
    ) -> list[RowMapping]:
        """The read port's statements: each on a replica that will do for this request, else on
        the primary. A replica never turns a read that would succeed into an error."""
        token = read_after.get()
        replica = await self.choose(parse_position(token) if token is not None else None)
        if replica is not None:
            try:
                rows = await replica.fetch_all(statement, parameters, DEADLINE_SECONDS)
            except Exception as error:  # whatever it was, the primary answers this one
                replica.mark_down(error)
            else:
                READS_SERVED.labels(replica.name).inc()
                return rows
        READS_SERVED.labels("primary").inc()
        return await self.primary.fetch_all(statement, parameters)

    async def check_all(self, within: float) -> None:
        await asyncio.gather(*(asyncio.shield(self._check_soon(r, within)) for r in self.replicas))

    def statuses(self) -> dict[str, str]:
        """What readiness reports: each replica in rotation or not, and why."""
        return {replica.name: self._status(replica) for replica in self.replicas}

    def _status(self, replica: Replica) -> str:
        if not replica.up:
            return "down"
        if not replica.receiving:
            return "lagging: no WAL receiver"
        if replica.lag <= self.max_lag:
            return "ok"
        if math.isinf(replica.lag):  # behind every sample kept (a minute), or none taken yet
            return "lagging: behind every position of the primary known"
        return f"lagging {replica.lag:.1f} s"

    def engines(self) -> dict[str, Engine]:
        return {replica.name: replica.engine.sync_engine for replica in self.replicas}

    async def dispose(self) -> None:
        tasks = [t for t in (self._sampling, *(r.checking for r in self.replicas)) if t]
        for task in tasks:
            task.cancel()  # none may open a connection once the pools are gone
        await asyncio.gather(*tasks, return_exceptions=True)
        for replica in self.replicas:
            await replica.engine.dispose()


def replica_reads(replicas: ReplicaSet) -> SqlAlchemyReads:
    """The read port when replicas are configured: its reads may come from a replica, its
    ``latest`` reads never do."""
    return SqlAlchemyReads(replicas, latest=SqlAlchemyReads(replicas.primary))


async def position_now(primary: StatementReader) -> str:
    """Where the primary's WAL is now: after a write's commit, a position that covers it."""
    (row,) = await primary.fetch_all(POSITION_NOW, {})
    return str(next(iter(row.values())))


def replica_set(
    urls: list[str],
    pool: PoolSettings,
    pooler: Pooler,
    echo: bool,
    *,
    max_lag: float,
    wait: float,
    primary: StatementReader,
) -> ReplicaSet:
    """Each replica with a pool of its own, set up as the primary is (driver, pooler), each
    connect and statement on it limited to ``DEADLINE_SECONDS`` by the driver and server."""
    # Named by their place in STOCKROOM_REPLICA_URLS: readiness is public, hosts are not.
    engines = [
        postgres.create_engine(make_url(url), pool, pooler, echo, deadline=DEADLINE_SECONDS)
        for url in urls
    ]
    replicas = [Replica(f"replica {n}", engine) for n, engine in enumerate(engines, start=1)]
    return ReplicaSet(replicas, max_lag=max_lag, wait=wait, primary=primary)
