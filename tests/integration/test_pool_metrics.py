"""The pool gauges and counters move with what the pool does, on PostgreSQL: a unit holding a
connection, a caller queued behind it, a caller that gives up, new connections. (On SQLite
units queue for the write lock before they reach the pool, and reads have a pool of their own:
the pool is not where they wait.)"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from prometheus_client import REGISTRY

from adapters.database import Database
from adapters.database_metrics import Pools
from adapters.pool import PoolSettings
from service_layer.errors import DatabaseUnavailable
from tests.integration.units import reads_of, unit_of_work
from tests.polling import eventually

WATCHED: dict[int, Pools] = {}


def gauge(database: Database, name: str, pool: str = "primary") -> float:
    """This process's value now (multiprocess ``liveall`` gauges carry a pid only when
    merged), sampled as the app does every second and before answering a scrape."""
    WATCHED[id(database)].sample()
    return REGISTRY.get_sample_value(name, {"pool": pool}) or 0.0


pytestmark = pytest.mark.postgres


@pytest.fixture
async def database(postgres_database: Database, postgres_url: str) -> AsyncIterator[Database]:
    """The run's migrated database, on one connection that waits at most 3 s for it: long
    enough for a waiter to be seen waiting on a loaded machine, short enough to time out."""
    url = postgres_url
    database = Database(url, pool=PoolSettings(size=1, max_overflow=0, timeout=3))
    WATCHED[id(database)] = Pools(database.engines())  # as the container does, metrics on
    try:
        yield database
    finally:
        del WATCHED[id(database)]
        await database.dispose()


async def test_the_gauges_follow_a_unit_a_waiter_and_a_timeout(database: Database) -> None:
    opened = (
        REGISTRY.get_sample_value("stockroom_pool_connections_opened_total", {"pool": "primary"})
        or 0
    )
    timeouts = REGISTRY.get_sample_value("stockroom_pool_checkout_timeouts_total") or 0
    holding, release = asyncio.Event(), asyncio.Event()

    async def hold() -> None:
        async with unit_of_work(database) as uow:
            await uow.items.list()  # the unit now holds the pool's one connection
            holding.set()
            await release.wait()

    async def queue_behind() -> None:
        async with unit_of_work(database) as uow:
            await uow.items.list()

    holder = asyncio.create_task(hold())
    waiter: asyncio.Task[None] | None = None
    try:
        await holding.wait()
        assert gauge(database, "stockroom_pool_size") == 1
        assert gauge(database, "stockroom_pool_checked_out") == 1
        waiter = asyncio.create_task(queue_behind())
        await eventually(lambda: gauge(database, "stockroom_pool_waiting") == 1)
    finally:  # a failed assertion must not leave a unit holding the database open
        release.set()
        await asyncio.gather(holder, *([waiter] if waiter else []))
    assert gauge(database, "stockroom_pool_waiting") == 0
    assert gauge(database, "stockroom_pool_checked_out") == 0

    held = asyncio.Event()

    async def hold_for_good() -> None:
        async with unit_of_work(database) as uow:
            await uow.items.list()
            held.set()
            await asyncio.Event().wait()  # until cancelled

    stuck = asyncio.create_task(hold_for_good())
    try:
        await held.wait()
        with pytest.raises(DatabaseUnavailable):
            await reads_of(database).items()  # waits 3 s for the pool, then gives up
    finally:
        stuck.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stuck

    assert (
        REGISTRY.get_sample_value("stockroom_pool_checkout_timeouts_total") or 0
    ) == timeouts + 1
    assert (
        REGISTRY.get_sample_value("stockroom_pool_connections_opened_total", {"pool": "primary"})
        or 0
    ) >= opened + 1
