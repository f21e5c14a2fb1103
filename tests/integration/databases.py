"""The databases an integration run opens, and the guard that no test leaks a connection.

Every ``Database`` a test builds goes through ``open_database`` (or is one of the run's
session-wide ones), so the autouse guard in ``conftest.py`` can check all of them after each
test: a connection still checked out fails the test that left it.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import asyncpg
from sqlalchemy.engine import make_url

from adapters.database import Database
from adapters.pool import PoolSettings
from adapters.postgres import Pooler
from entrypoints import migrations


class OpenDatabases:
    """The databases alive right now, in the order they were opened."""

    def __init__(self) -> None:
        self._open: list[Database] = []

    def add(self, database: Database) -> None:
        self._open.append(database)

    def remove(self, database: Database) -> None:
        self._open.remove(database)

    def __iter__(self) -> Iterator[Database]:
        return iter(list(self._open))

    def leaks(self) -> dict[str, int]:
        """Connections still checked out, by database URL."""
        return {
            database.url.render_as_string(): database.checked_out()
            for database in self
            if database.checked_out() != 0
        }


OPEN = OpenDatabases()


@asynccontextmanager
async def open_database(
    url: str,
    pool: PoolSettings | None = None,
    pooler: Pooler = Pooler.NONE,
) -> AsyncIterator[Database]:
    """A database of the test's own, watched by the leak guard for as long as it lives.

    From a module-scoped fixture, the autouse guard checks it after every test. From a
    function-scoped one the guard runs too late (after this is torn down), so leaving checks
    it the same way first; either way it is disposed, so a connection a failure left inside a
    transaction is closed (and rolled back by the server) before the guard's clean-up runs
    into its locks.
    """
    database = Database(url, pool=pool or PoolSettings(), pooler=pooler)
    OPEN.add(database)
    try:
        yield database
    finally:
        leaked = database.checked_out()
        OPEN.remove(database)
        await database.dispose()
    assert leaked == 0, f"connections still checked out after the test: {leaked}"


@asynccontextmanager
async def throwaway_database(server_url: str, prefix: str) -> AsyncIterator[Database]:
    """A fresh PostgreSQL database on ``server_url``'s server, migrated, watched by the leak
    guard, and dropped afterwards: for tests whose servers are other processes, so that
    nothing of theirs can linger in the run's shared database."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin_dsn = make_url(server_url).set(drivername="postgresql")
    admin = await asyncpg.connect(admin_dsn.render_as_string(hide_password=False), timeout=10)
    await admin.execute(f'CREATE DATABASE "{name}"')
    direct = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    try:
        async with open_database(direct) as database:
            await migrations.upgrade_engine(database.engine)
            yield database
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
