"""Real databases for integration tests: a fresh SQLite file and a fresh PostgreSQL database
per run, both migrated with Alembic (never ``create_all``), plus the connection-leak guard."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.database import build_engine, build_session_factory, checked_out
from adapters.memory_repository import InMemoryStore
from adapters.orm import metadata
from entrypoints import migrations
from service_layer.fake_unit_of_work import FakeUnitOfWork
from service_layer.sqlalchemy_unit_of_work import SqlAlchemyUnitOfWork
from service_layer.unit_of_work import AbstractUnitOfWork

POSTGRES_URL = os.environ.get(
    "STOCKROOM_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
IN_CI = bool(os.environ.get("CI"))

# Every engine the suite creates, so the leak guard can check all of them after each test.
_engines: list[AsyncEngine] = []


def postgres_unavailable(reason: str) -> None:
    """In CI a missing PostgreSQL is a failure; on a laptop it is a skip that says why."""
    message = f"PostgreSQL at {POSTGRES_URL} is not usable: {reason}"
    if IN_CI:
        pytest.fail(message + " (CI=true: PostgreSQL tests must run)", pytrace=False)
    pytest.skip(message + "; start it or set STOCKROOM_TEST_POSTGRES_URL")


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
async def postgres_url() -> AsyncIterator[str]:
    """A throwaway database on the shared server, created for this run and dropped after."""
    name = f"stockroom_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = await asyncpg.connect(_asyncpg_dsn(POSTGRES_URL), timeout=5)
    except (OSError, asyncpg.PostgresError) as error:
        postgres_unavailable(str(error))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    admin = await asyncpg.connect(_asyncpg_dsn(POSTGRES_URL), timeout=5)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path: Path = tmp_path_factory.mktemp("sqlite") / "stockroom.db"
    return f"sqlite+aiosqlite:///{path}"


async def _migrated_engine(url: str) -> AsyncEngine:
    engine = build_engine(url)
    await migrations.upgrade_engine(engine)
    _engines.append(engine)
    return engine


@pytest.fixture(scope="session")
async def sqlite_engine(sqlite_url: str) -> AsyncIterator[AsyncEngine]:
    engine = await _migrated_engine(sqlite_url)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
async def postgres_engine(postgres_url: str) -> AsyncIterator[AsyncEngine]:
    engine = await _migrated_engine(postgres_url)
    yield engine
    await engine.dispose()


BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest) -> AsyncEngine:
    """The same test on SQLite and on PostgreSQL."""
    found: AsyncEngine = request.getfixturevalue(f"{request.param}_engine")
    return found


UowFactory = Callable[[], AbstractUnitOfWork]


@pytest.fixture(params=["fake", *BACKENDS])
def uow_factory(request: pytest.FixtureRequest) -> UowFactory:
    """Fresh units of work over one store: the fake, SQLite and PostgreSQL, same contract."""
    if request.param == "fake":
        store = InMemoryStore()
        return lambda: FakeUnitOfWork(store)
    engine: AsyncEngine = request.getfixturevalue(f"{request.param}_engine")
    session_factory = build_session_factory(engine)
    return lambda: SqlAlchemyUnitOfWork(session_factory)


async def _empty_tables(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            names = ", ".join(table.name for table in metadata.sorted_tables)
            await connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(metadata.sorted_tables):
                await connection.execute(table.delete())


@pytest.fixture(autouse=True)
async def no_connection_leaks() -> AsyncIterator[None]:
    """Fail the test that leaves a connection checked out of any pool, then reset the data."""
    yield
    leaks = {
        engine.url.render_as_string(): checked_out(engine)
        for engine in _engines
        if checked_out(engine) != 0
    }
    # A leaked connection may hold locks that would hang the clean-up, so report it first.
    assert not leaks, f"connections still checked out after the test: {leaks}"
    for engine in _engines:
        await _empty_tables(engine)
