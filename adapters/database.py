"""The engines of one database and their pools: built once per process, disposed at shutdown.

``Database`` holds what connects to the database: the engine the units of work run on, and
the engine (or, for a SQLite file, the thread-hop reader) the read port runs on. How each is
set up, and why, is in ``adapters/postgres.py`` and ``adapters/sqlite.py``. What uses them
lives elsewhere, one job each: the unit of work and its sessions (``adapters.unit_of_work``),
the read port (``adapters.reads``), replicas (``adapters.replicas``), and what a driver error
means (``adapters.database_errors``). The container builds one per process
(``entrypoints/container.py``) and disposes it when the app or the CLI command ends.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import literal, select, text
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import QueuePool

from adapters import postgres, sqlite
from adapters.database_errors import classify
from adapters.fair_pool import FairAsyncPool
from adapters.orm import start_mappers
from adapters.pool import PoolSettings
from adapters.postgres import Pooler
from adapters.reads import EngineReader, StatementReader
from adapters.sqlite_reader import SqliteReader
from adapters.sqlite_writer_queue import WriterQueue
from service_layer.errors import DatabaseUnavailable

DEFAULT_POOL = PoolSettings()
_PING = select(literal(1))
_IN_RECOVERY = text("SELECT pg_is_in_recovery()")


class Database:
    """``dialect`` is "sqlite" or "postgresql" (a plain attribute: the container chooses the
    unit of work by it). On SQLite, ``writer_queue`` is where units take turns for the one
    write lock, and ``sqlite_reader`` (a file only) runs the read port's statements."""

    def __init__(
        self,
        url: str | URL,
        *,
        pool: PoolSettings = DEFAULT_POOL,
        pooler: Pooler = Pooler.NONE,
        sqlite_busy_timeout_ms: int = 5000,
        echo: bool = False,
    ) -> None:
        start_mappers()
        self.url = make_url(url)
        self.pooler = pooler
        self.dialect = self.url.get_backend_name()
        self.writer_queue: WriterQueue | None = None
        self.sqlite_reader: SqliteReader | None = None
        self.engine: AsyncEngine
        if self.dialect == "sqlite":
            self.engine = sqlite.create_engine(self.url, pool, sqlite_busy_timeout_ms, echo)
            self.writer_queue = sqlite.writer_queue(self.url, sqlite_busy_timeout_ms)
            self.sqlite_reader = sqlite.reader(self.url, pool, sqlite_busy_timeout_ms)
        else:
            self.engine = postgres.create_engine(self.url, pool, pooler, echo)
        self.reader: StatementReader = self.sqlite_reader or EngineReader(self.read_engine)
        self._pool = pool
        self._probe_engine: AsyncEngine | None = None

    @property
    def read_engine(self) -> AsyncEngine:
        """The engine for statements that need no transaction: not even a BEGIN (SQLite), or
        one round trip instead of three (PostgreSQL's AUTOCOMMIT)."""
        if self.dialect == "sqlite":
            return self.engine.execution_options(**sqlite.NO_BEGIN)
        return self.engine.execution_options(isolation_level="AUTOCOMMIT")

    async def ping(self, within: float) -> None:
        """One round trip to the database (through the pooler, if any) within ``within``
        seconds, or ``DatabaseUnavailable``."""
        try:
            async with asyncio.timeout(within):
                await self.reader.fetch_all(_PING, {})
        except TimeoutError as error:
            raise DatabaseUnavailable(f"no answer from the database in {within} s") from error

    async def standby(self, within: float) -> bool:
        """Whether the database is a standby (in recovery: it refuses every write), asked on a
        connection of its own, not the pool's, which a fault of this process may have used up:
        so a database that answers here while the pool serves nobody says the fault is ours.
        ``DatabaseUnavailable`` when no answer comes within ``within`` seconds."""
        if self.dialect != "postgresql":
            await self.ping(within)
            return False
        if self._probe_engine is None:
            one = PoolSettings(size=1, max_overflow=0, timeout=within, recycle=self._pool.recycle)
            self._probe_engine = postgres.create_engine(self.url, one, self.pooler, echo=False)
        unanswered = DatabaseUnavailable(f"no answer from the database in {within} s")
        try:
            async with asyncio.timeout(within):
                connection = await self._probe_engine.connect()
        except TimeoutError as error:
            raise unanswered from error
        except Exception as error:
            raise classify(error) or error from error
        driver = (await connection.get_raw_connection()).driver_connection
        # Past the deadline the connection is ended under the statement, which then fails at
        # once: cancelling the await instead would have the driver send a cancel request and
        # wait for its answer, which a hung server never gives (as a replica's reads).
        deadline = asyncio.get_running_loop().call_later(within, postgres.abandon, driver)
        try:
            # One round trip: no BEGIN and ROLLBACK around it.
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            return bool(await connection.scalar(_IN_RECOVERY))
        except BaseException as error:
            postgres.abandon(driver)  # never back to the pool with a statement unanswered
            await connection.invalidate()
            if isinstance(error, Exception):
                late = deadline.when() <= asyncio.get_running_loop().time()
                raise unanswered if late else classify(error) or error from error
            raise
        finally:
            deadline.cancel()
            await connection.close()

    def stuck_for(self) -> float:
        """Seconds callers of the units' pool have been waiting with nobody served: every
        connection held, none given back (0 while nobody waits)."""
        pool = self.engine.sync_engine.pool
        return pool.stuck_for() if isinstance(pool, FairAsyncPool) else 0.0

    def engines(self) -> dict[str, Engine]:
        """Every engine that runs statements, by the name metrics give its pool."""
        engines = {"primary": self.engine.sync_engine}
        if self.sqlite_reader is not None:
            engines["sqlite reader"] = self.sqlite_reader.engine
        return engines

    def pools(self) -> list[QueuePool]:
        engines = self.engines().values()
        return [engine.pool for engine in engines if isinstance(engine.pool, QueuePool)]

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
        if self._probe_engine is not None:
            await self._probe_engine.dispose()
        await self.engine.dispose()
