"""The default pool is fixed-size on both databases, so steady load never churns connections.

With overflow, SQLAlchemy closes a connection that comes back to a pool already holding
``size`` idle ones and opens a new one at the next burst: under steady load above ``size`` that
is a connect per few requests (a PostgreSQL backend fork, an aiosqlite thread). The benchmark
measured it (bench/README.md); this test keeps it from coming back: many more concurrent reads
than the pool holds, through the database's read path, and no pool behind the database ever
opens a connection beyond its size. (On a SQLite file the reads run on the sync reader's own
pool, sized at most the number of cores; on PostgreSQL on the engine's pool.)
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection, QueuePool

from adapters.database import Database
from adapters.pool import PoolSettings
from entrypoints.settings import Settings
from tests.integration.databases import open_database

CONCURRENT = 40
ROUNDS = 5
# Each read holds its connection for a few milliseconds inside the database, so the others
# really queue: a server-side sleep on PostgreSQL, a short recursive count on SQLite (the
# SQLite reader runs it in a thread, with the GIL released).
HOLDING_READ = {
    "postgresql": text("SELECT pg_sleep(0.005)"),
    "sqlite": text(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50000) "
        "SELECT count(*) FROM n"
    ),
}


def test_the_default_pool_has_no_overflow() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.pool.max_overflow == 0
    assert settings.pool == PoolSettings()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    # The migrated databases' fixtures create the databases; this test builds its own.
    request.getfixturevalue(f"{request.param}_database")
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


class PoolWatch:
    """Connections opened, and the most checked out at once, in each pool of a database."""

    def __init__(self, database: Database) -> None:
        self.pools = database.pools()
        self.connects: Counter[int] = Counter()
        self.most_in_use: Counter[int] = Counter()
        # The SQLite reader's threads check connections out too.
        self._lock = threading.Lock()
        for index, pool in enumerate(self.pools):
            event.listen(pool, "connect", self._connected(index))
            event.listen(pool, "checkout", self._checked_out(index, pool))

    def _connected(self, index: int) -> Callable[[Any, ConnectionPoolEntry], None]:
        def connected(_dbapi: Any, _record: ConnectionPoolEntry) -> None:
            with self._lock:
                self.connects[index] += 1

        return connected

    def _checked_out(
        self, index: int, pool: QueuePool
    ) -> Callable[[Any, ConnectionPoolEntry, PoolProxiedConnection], None]:
        def checked_out(
            _dbapi: Any, _record: ConnectionPoolEntry, _proxy: PoolProxiedConnection
        ) -> None:
            with self._lock:  # the connection being handed out is counted already
                self.most_in_use[index] = max(self.most_in_use[index], pool.checkedout())

        return checked_out


async def test_load_beyond_the_pool_opens_no_extra_connection(database_url: str) -> None:
    size = 3
    async with open_database(database_url, PoolSettings(size=size, timeout=10)) as database:
        watch = PoolWatch(database)
        statement = HOLDING_READ[database.dialect]

        for _ in range(ROUNDS):
            await asyncio.gather(
                *(database.reader.fetch_all(statement, {}) for _ in range(CONCURRENT))
            )

        used = [index for index, pool in enumerate(watch.pools) if watch.connects[index]]
        assert used, "the reads went through none of the database's pools"
        for index in used:
            pool = watch.pools[index]
            assert 0 < pool.size() <= size
            assert watch.most_in_use[index] == pool.size()  # the load did fill the pool...
            assert watch.connects[index] == pool.size()  # ...and never opened one beyond it
        assert database.checked_out() == 0
