"""SQLite reads in one thread hop: a plain (sync) pysqlite engine, run on a small thread pool.

aiosqlite runs every driver call on its connection's own thread, and SQLAlchemy's adapter
makes five of them for one SELECT (open a cursor, execute, fetch, close it, roll back on
check-in), each a queue hand-off plus an event-loop wake-up: about three times the CPU of
the same statement run on a sync engine inside one executor call (docs/session-lifecycle.md).
So the read port, on a SQLite file, runs its statement here; units of work keep aiosqlite,
since their code is async and interleaves with the service between statements.

The reader's connections are configured like the async engine's (WAL, busy timeout, foreign
keys) and never BEGIN: each SELECT reads the latest committed data on its own, as the read
port does on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import Executable, RowMapping, create_engine, event
from sqlalchemy.engine import URL, Engine
from sqlalchemy.pool import ConnectionPoolEntry, QueuePool

from adapters.database_errors import classify


class SqliteReader:
    def __init__(
        self,
        url: URL,
        *,
        max_threads: int,
        pool_timeout: float,
        busy_timeout_ms: int,
        configure: Callable[[Any], None],
    ) -> None:
        # A SQLite read is CPU work under the GIL, with no network to wait on: threads beyond
        # the cores only contend for the GIL, so no more threads (and pooled connections)
        # than cores, whatever the pool size.
        self._threads = max(1, min(max_threads, os.cpu_count() or 1))
        self.engine: Engine = create_engine(
            url.set(drivername="sqlite+pysqlite"),
            pool_size=self._threads,
            max_overflow=0,
            poolclass=QueuePool,  # one connection per thread: nobody ever waits for one
            hide_parameters=True,  # errors never quote bound values in the log
            pool_timeout=pool_timeout,
            # A pooled connection is used by whichever reader thread checks it out.
            connect_args={"timeout": busy_timeout_ms / 1000, "check_same_thread": False},
        )

        @event.listens_for(self.engine, "connect")
        def _configure(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
            configure(dbapi_connection)

        self._executor: ThreadPoolExecutor | None = None

    async def fetch_all(
        self, statement: Executable, parameters: Mapping[str, Any]
    ) -> list[RowMapping]:
        """Run ``statement`` on a reader thread (the event loop stays free meanwhile); its
        failures classified as the read port's are (``adapters.database_errors``)."""

        def read() -> list[RowMapping]:
            with self.engine.connect() as connection:
                return list(connection.execute(statement, parameters).mappings())

        if self._executor is None:
            # Threads of its own: reads never queue behind other work sent to the event
            # loop's default executor (password hashing, say).
            self._executor = ThreadPoolExecutor(
                max_workers=self._threads, thread_name_prefix="sqlite-read"
            )
        # In the caller's context: the request id of log lines, the trace of the statement.
        context = contextvars.copy_context()
        try:
            return await asyncio.get_running_loop().run_in_executor(
                self._executor, context.run, read
            )
        except Exception as error:
            classified = classify(error)
            if classified is None:
                raise
            raise classified from error

    def dispose(self) -> None:
        """Close the pooled connections and stop the threads; like a disposed engine, the
        reader starts afresh if it is used again."""
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False)
        self.engine.dispose()
