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

from sqlalchemy import literal, select
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import QueuePool

from adapters import postgres, sqlite
from adapters.orm import start_mappers
from adapters.pool import PoolSettings
from adapters.postgres import Pooler
from adapters.reads import EngineReader, StatementReader
from adapters.sqlite_reader import SqliteReader
from adapters.sqlite_writer_queue import WriterQueue
from service_layer.errors import DatabaseUnavailable

DEFAULT_POOL = PoolSettings()
_PING = select(literal(1))


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
        await self.engine.dispose()
