"""The default pool is fixed-size on both databases, so steady load never churns connections.

With overflow, SQLAlchemy closes a connection that comes back to a pool already holding
``size`` idle ones and opens a new one at the next burst: under steady load above ``size`` that
is a connect per few requests (a PostgreSQL backend fork, an aiosqlite thread). The benchmark
measured it (bench/README.md); this test keeps it from coming back: many more concurrent reads
than the pool holds, and no connection is ever opened beyond the pool's size.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import ConnectionPoolEntry

from adapters.database import PoolSettings, build_engine, read_only
from entrypoints.settings import Settings

CONCURRENT = 40
ROUNDS = 5


def test_the_default_pool_has_no_overflow() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.pool.max_overflow == 0
    assert settings.pool == PoolSettings()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    # The migrated engines' fixtures create the databases; this test builds its own engine.
    request.getfixturevalue(f"{request.param}_engine")
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


async def test_load_beyond_the_pool_opens_no_extra_connection(database_url: str) -> None:
    size = 3
    engine: AsyncEngine = build_engine(database_url, pool=PoolSettings(size=size, timeout=10))
    connects = 0
    in_use = 0
    most_in_use = 0

    def count(_dbapi: Any, _record: ConnectionPoolEntry) -> None:
        nonlocal connects
        connects += 1

    event.listen(engine.sync_engine, "connect", count)
    reads = read_only(engine)

    async def read() -> None:
        nonlocal in_use, most_in_use
        async with reads.connect() as connection:
            in_use += 1
            most_in_use = max(most_in_use, in_use)
            await connection.execute(text("SELECT 1"))
            await asyncio.sleep(0.005)  # hold it, so the others really queue
            in_use -= 1

    try:
        for _ in range(ROUNDS):
            await asyncio.gather(*(read() for _ in range(CONCURRENT)))
        assert most_in_use == size  # the load did fill the pool...
        assert connects == size  # ...and never opened a connection beyond it
        assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    finally:
        await engine.dispose()
