"""The database as the application uses it: one object that owns every driver detail.

``Database`` is built once per process by the container (``entrypoints/container.py``) and
disposed on shutdown. It owns the engine and its pool, the session factory, everything that
differs between SQLite and PostgreSQL, the read port's way of running a statement, and what
a driver error means to the service layer. The unit of work (``adapters.unit_of_work``) gets
its sessions and its error classification from here and from nowhere else.

Each setting below says why in a line; the measurements behind them are in
``docs/session-lifecycle.md``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Executable, RowMapping, literal, select
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.pool import QueuePool

from adapters import database_errors, database_metrics, postgres, sqlite
from adapters.orm import start_mappers
from adapters.pool import PoolSettings
from adapters.postgres import Pooler
from adapters.replicas import POSITION_NOW, ReplicaSet, replica_set
from adapters.sqlite_reader import SqliteReader
from adapters.sqlite_writer_queue import WriterQueue
from adapters.unit_session import UnitSession
from service_layer.errors import DatabaseUnavailable

log = logging.getLogger(__name__)
DEFAULT_POOL = PoolSettings()
_PING = select(literal(1))


class Database:
    def __init__(
        self,
        url: str | URL,
        *,
        pool: PoolSettings = DEFAULT_POOL,
        pooler: Pooler = Pooler.NONE,
        replica_urls: Sequence[str] = (),
        replica_max_lag: float = 5.0,
        replica_wait: float = 0.1,
        sqlite_busy_timeout_ms: int = 5000,
        echo: bool = False,
        metrics: bool = False,
    ) -> None:
        start_mappers()
        self.url = make_url(url)
        self.pooler = pooler
        # SQLite only (``None`` elsewhere); public so that tests can watch them work.
        self.writer_queue: WriterQueue | None = None
        self.sqlite_reader: SqliteReader | None = None
        if self.url.get_backend_name() == "sqlite":
            self.engine = sqlite.create_engine(self.url, pool, sqlite_busy_timeout_ms, echo)
            # Units of work take turns for the one write lock in arrival order, instead of
            # polling for it in SQLite's busy handler; reads of a file take one thread hop.
            self.writer_queue = sqlite.writer_queue(self.url, sqlite_busy_timeout_ms)
            self.sqlite_reader = sqlite.reader(self.url, pool, sqlite_busy_timeout_ms)
            # A read needs no transaction: not even a deferred BEGIN, so it never queues.
            self._read_engine = self.engine.execution_options(**sqlite.NO_BEGIN)
        else:
            self.engine = postgres.create_engine(self.url, pool, pooler, echo)
            # A read needs no transaction: AUTOCOMMIT makes it one round trip, not three.
            self._read_engine = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        # Streaming replicas take the read port's reads when asked to (see adapters.replicas).
        self.replicas: ReplicaSet | None = None
        if replica_urls:
            if self.dialect != "postgresql":
                raise ValueError("replicas need PostgreSQL as the primary")
            self.replicas = replica_set(
                replica_urls, pool, pooler, echo, max_lag=replica_max_lag, wait=replica_wait
            )
        # Pool metrics, per process (adapters/database_metrics.py); gauges are sampled.
        watched = (
            [database_metrics.watch(e, n) for n, e in self.engines().items()] if metrics else []
        )
        self._pool_gauges = [gauges for gauges in watched if gauges is not None]
        self.sessions = async_sessionmaker(
            self.engine,
            # Objects stay readable after commit without a refresh round trip, and nothing
            # tries lazy IO once the unit of work has closed the session.
            expire_on_commit=False,
            # SQL is sent when the unit of work asks for it, not as a side effect of a query.
            autoflush=False,
            sync_session_class=UnitSession,
        )

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def units_take_turns(self) -> bool:
        """Whether units of work run one at a time (SQLite's one write lock, taken in arrival
        order by the writer queue): then every statement inside a unit delays all the others,
        and a check that can run before the unit should (the container's
        ``accounts_checked_in_units``)."""
        return self.writer_queue is not None

    # --- units of work -----------------------------------------------------------------

    async def open_session(self) -> AsyncSession:
        """A new session for one unit of work; on SQLite, once it is this unit's turn to write."""
        if self.writer_queue is not None and not await self.writer_queue.enter():
            raise DatabaseUnavailable(
                "database is locked: other writers held it for longer than the busy timeout"
            )
        try:
            return self.sessions()
        except BaseException:
            self._leave_writer_queue()
            raise

    async def close_session(self, session: AsyncSession) -> None:
        """Roll back whatever is uncommitted and give the connection back to the pool.

        close(), not rollback(): it ends the transaction the same way, but leaves loaded
        objects detached with the values they had instead of expired, so reading one after
        the unit never attempts lazy IO.
        """
        try:
            # Shielded: if the caller is cancelled (client went away, timeout), closing still
            # completes and the connection goes back to the pool instead of leaking.
            await asyncio.shield(session.close())
        except Exception:
            # A dead connection can fail its ROLLBACK; SQLAlchemy has invalidated it and the
            # pool replaces it. Whatever the block did or raised stands: nothing to add here.
            log.warning("closing the session failed; its connection was discarded", exc_info=True)
        finally:
            self._leave_writer_queue()  # only once the transaction is over

    def _leave_writer_queue(self) -> None:
        if self.writer_queue is not None:
            self.writer_queue.leave()

    # --- the read port -----------------------------------------------------------------

    async def fetch_all(
        self,
        statement: Executable,
        parameters: Mapping[str, Any],
        *,
        on_replica: bool = False,
        at_least: int | None = None,
    ) -> list[RowMapping]:
        """One statement on committed data, outside any transaction; the connection is held
        only while it runs. Errors are classified as a unit of work's are.

        ``on_replica``: a replica may serve it, one that has replayed ``at_least`` (a WAL
        position a write returned) if given; the primary when none will do, or when the
        chosen one fails: a replica never turns a read that would succeed into an error.
        """
        if on_replica and self.replicas is not None:
            replica = await self.replicas.choose(at_least)
            if replica is not None:
                try:
                    async with replica.reader.connect() as connection:
                        rows = list((await connection.execute(statement, parameters)).mappings())
                    database_metrics.READS_SERVED.labels(replica.name).inc()
                    return rows
                except Exception as error:
                    if not isinstance(self.classify(error), DatabaseUnavailable):
                        raise
                    replica.mark_down(error)  # and read from the primary below
            database_metrics.READS_SERVED.labels("primary").inc()
        try:
            if self.sqlite_reader is not None:
                return await self.sqlite_reader.fetch_all(statement, parameters)
            async with self._read_engine.connect() as connection:
                return list((await connection.execute(statement, parameters)).mappings())
        except Exception as error:
            classified = self.classify(error)
            if classified is None:
                raise
            raise classified from error

    async def ping(self, within: float) -> None:
        """One round trip to the database (through the pooler, if any) within ``within``
        seconds, or ``DatabaseUnavailable``: what readiness asks."""
        try:
            async with asyncio.timeout(within):
                await self.fetch_all(_PING, {})
        except TimeoutError as error:
            raise DatabaseUnavailable(f"no answer from the database in {within} s") from error

    async def position_after_commit(self) -> str | None:
        """Where the primary's WAL is now, so after our commit: the token a write returns for
        reads that must see it. ``None`` (and no round trip) without replicas."""
        if self.replicas is None:
            return None
        (row,) = await self.fetch_all(POSITION_NOW, {})
        return str(next(iter(row.values())))

    async def replica_statuses(self, within: float) -> dict[str, str]:
        """Each replica checked now: "ok", "down" or how far behind; for readiness."""
        if self.replicas is None:
            return {}
        await self.replicas.check_all(within)
        return self.replicas.statuses()

    # --- errors ------------------------------------------------------------------------

    def classify(self, error: BaseException) -> Exception | None:
        """The service layer's error for a driver error, or ``None`` (``database_errors``)."""
        if isinstance(error, PoolTimeout):
            database_metrics.POOL_TIMEOUTS.inc()
        return database_errors.classify(error)

    # --- operations --------------------------------------------------------------------

    def engines(self) -> dict[str, Engine]:
        """Every engine that runs statements, by the name metrics give its pool."""
        engines = {"primary": self.engine.sync_engine}
        if self.sqlite_reader is not None:
            engines["sqlite reader"] = self.sqlite_reader.engine
        for replica in self.replicas.replicas if self.replicas is not None else ():
            engines[replica.name] = replica.engine.sync_engine
        return engines

    def pools(self) -> list[QueuePool]:
        """Every pool behind this database: the engine's, the SQLite reader's, replicas'."""
        engines = self.engines().values()
        return [engine.pool for engine in engines if isinstance(engine.pool, QueuePool)]

    def sample_pool_gauges(self) -> None:
        for gauges in self._pool_gauges:
            gauges.sample()

    def checked_out(self) -> int:
        """Connections in use right now (0 when nothing holds any)."""
        return sum(pool.checkedout() for pool in self.pools())

    async def dispose(self) -> None:
        """Close every pooled connection and stop the reader's threads. Like an engine, the
        database can be used again afterwards, from another event loop too (a CLI runs one
        loop per command): pools, threads and the writer queue start afresh."""
        if self.sqlite_reader is not None:
            self.sqlite_reader.dispose()
        if self.writer_queue is not None:
            self.writer_queue.reset()
        if self.replicas is not None:
            await self.replicas.dispose()
        await self.engine.dispose()
