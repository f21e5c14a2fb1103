"""SQLite reads in one thread hop: a plain (sync) pysqlite engine, run on a small thread pool.

aiosqlite runs every driver call on its connection's own thread, and SQLAlchemy's adapter
makes five of them for one SELECT (open a cursor, execute, fetch, close it, roll back on
check-in), each a queue hand-off plus an event-loop wake-up. Measured for one item by id:
560 us of CPU per read that way, 190 us for the same statement on a sync engine inside one
executor call (bench/README.md). So the lean read path on a SQLite file runs its statement
on this reader; units of work keep aiosqlite, since their code is async and interleaves with
the service between statements.

The reader's connections are configured like the async engine's (WAL, busy timeout, foreign
keys) and never BEGIN: each SELECT reads the latest committed data on its own, as the lean
read path does on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import os
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.ext.asyncio import AsyncEngine

T = TypeVar("T")


class SqliteReader:
    def __init__(self, engine: Engine, threads: int) -> None:
        self.engine = engine
        self._threads = threads
        self._executor: ThreadPoolExecutor | None = None

    async def run(self, read: Callable[[Engine], T]) -> T:
        """``read(engine)`` on a reader thread; the event loop stays free meanwhile."""
        if self._executor is None:
            # Its own threads: reads never queue behind other work sent to the event loop's
            # default executor (password hashing, say).
            self._executor = ThreadPoolExecutor(
                max_workers=self._threads, thread_name_prefix="sqlite-read"
            )
        return await asyncio.get_running_loop().run_in_executor(self._executor, read, self.engine)

    def dispose(self) -> None:
        """Close the pooled connections and stop the threads; like a disposed engine, the
        reader starts afresh if it is used again."""
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False)
        self.engine.dispose()


_readers: weakref.WeakKeyDictionary[Engine, SqliteReader] = weakref.WeakKeyDictionary()


def install(
    async_engine: AsyncEngine,
    url: str | URL,
    *,
    pool_size: int,
    pool_timeout: float,
    busy_timeout_ms: int,
    configure: Callable[[Any], None],
) -> None:
    """Give ``async_engine`` (a SQLite file) a sync reader, disposed together with it."""
    # A SQLite read is CPU work under the GIL, with no network to wait on: threads beyond the
    # cores only contend for the GIL (measured, GET /items/{id} at 32 connections: 3,890
    # req/s with 10 threads per worker, 4,750 with 2). The pool never needs more connections
    # than threads use.
    threads = max(1, min(pool_size, os.cpu_count() or 1))
    sync_url = make_url(url).set(drivername="sqlite+pysqlite")
    engine = create_engine(
        sync_url,
        pool_size=threads,
        max_overflow=0,
        pool_timeout=pool_timeout,
        # A pooled connection is used by whichever reader thread checks it out.
        connect_args={"timeout": busy_timeout_ms / 1000, "check_same_thread": False},
    )
    event.listen(engine, "connect", lambda dbapi_connection, _record: configure(dbapi_connection))
    reader = SqliteReader(engine, threads=threads)
    _readers[async_engine.sync_engine] = reader
    event.listen(async_engine.sync_engine, "engine_disposed", lambda _engine: reader.dispose())


def reader_for(async_engine: AsyncEngine) -> SqliteReader | None:
    return _readers.get(async_engine.sync_engine)
