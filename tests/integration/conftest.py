"""Real databases for integration tests: a fresh SQLite file and a fresh PostgreSQL database
per run, both migrated with Alembic (never ``create_all``), plus the connection-leak guard."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest
from dependency_injector import providers
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.engine import make_url

from adapters.database import Database
from adapters.orm import metadata
from adapters.postgres import Pooler
from entrypoints import migrations
from entrypoints.api.app import create_app
from entrypoints.container import Container
from service_layer.reads import AbstractReads
from service_layer.unit_of_work import AbstractUnitOfWork
from tests.api_support import api_client, build_test_container
from tests.fakes import FakeUnitOfWork, InMemoryReads, InMemoryStore
from tests.integration.cli_support import Target
from tests.integration.databases import OPEN, open_database, throwaway_database
from tests.integration.failure_support import reporting_client
from tests.integration.relay_support import Broker, connected_broker
from tests.integration.replication import ReplicatedCluster
from tests.integration.servers import PgBouncer
from tests.integration.units import reads_of, unit_of_work

POSTGRES_URL = os.environ.get(
    "STOCKROOM_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
IN_CI = bool(os.environ.get("CI"))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "also_pooled: ``database`` is also the run's PostgreSQL database behind PgBouncer, in "
        "transaction and in session mode",
    )
    config.addinivalue_line(
        "markers", "settings(**overrides): settings the test's ``container`` is built with"
    )
    config.addinivalue_line(
        "markers",
        "reporting_client: ``client`` hands an unhandled error back as the 500 a server would "
        "send, instead of raising it into the test",
    )


def postgres_unavailable(reason: str) -> None:
    """In CI a missing PostgreSQL is a failure; on a laptop it is a skip that says why."""
    message = f"PostgreSQL at {POSTGRES_URL} is not usable: {reason}"
    if IN_CI:
        pytest.fail(message + " (CI=true: PostgreSQL tests must run)", pytrace=False)
    pytest.skip(message + "; start it or set STOCKROOM_TEST_POSTGRES_URL")


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@asynccontextmanager
async def empty_postgres_database(prefix: str) -> AsyncIterator[str]:
    """A new, empty (unmigrated) database on the shared server, dropped afterwards: its URL.
    No connection is held meanwhile."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    try:
        admin = await asyncpg.connect(_asyncpg_dsn(POSTGRES_URL), timeout=5)
    except (OSError, asyncpg.PostgresError) as error:
        postgres_unavailable(str(error))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        admin = await asyncpg.connect(_asyncpg_dsn(POSTGRES_URL), timeout=5)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@pytest.fixture(scope="session")
async def postgres_url() -> AsyncIterator[str]:
    """A throwaway database on the shared server, created for this run and dropped after."""
    async with empty_postgres_database("stockroom_test") as url:
        yield url


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path: Path = tmp_path_factory.mktemp("sqlite") / "stockroom.db"
    return f"sqlite+aiosqlite:///{path}"


async def _migrated(url: str) -> AsyncIterator[Database]:
    database = Database(url)
    await migrations.upgrade_engine(database.engine)
    OPEN.add(database)
    yield database
    OPEN.remove(database)
    await database.dispose()


@pytest.fixture(scope="session")
async def sqlite_database(sqlite_url: str) -> AsyncIterator[Database]:
    async for database in _migrated(sqlite_url):
        yield database


@pytest.fixture(scope="session")
async def postgres_database(postgres_url: str) -> AsyncIterator[Database]:
    async for database in _migrated(postgres_url):
        yield database


def _pgbouncer(mode: str, postgres_url: str, pool_size: int) -> Iterator[PgBouncer]:
    bouncer = PgBouncer(mode, postgres_url, pool_size)
    try:
        bouncer.start()
        yield bouncer
    finally:
        bouncer.remove()


@pytest.fixture(scope="session")
def pgbouncer_transaction(postgres_url: str) -> Iterator[PgBouncer]:
    """A PgBouncer in transaction mode in front of the test server, for the whole run."""
    yield from _pgbouncer("transaction", postgres_url, pool_size=20)


@pytest.fixture(scope="session")
def pgbouncer_session(postgres_url: str) -> Iterator[PgBouncer]:
    """In session mode every client connection, idle in a pool or not, holds a server
    connection: room for every pool the suite opens through it at once."""
    yield from _pgbouncer("session", postgres_url, pool_size=45)


@pytest.fixture
def own_pgbouncer(postgres_url: str) -> Iterator[PgBouncer]:
    """A transaction-mode PgBouncer of the test's own: stopping it touches no other test."""
    yield from _pgbouncer("transaction", postgres_url, pool_size=20)


async def _through(
    bouncer: PgBouncer, postgres_url: str, pooler: Pooler
) -> AsyncIterator[Database]:
    """The run's PostgreSQL database (migrated by ``postgres_database``), through ``bouncer``."""
    database = Database(bouncer.url(make_url(postgres_url).database or ""), pooler=pooler)
    OPEN.add(database)
    yield database
    OPEN.remove(database)
    await database.dispose()


@pytest.fixture(scope="session")
async def pgbouncer_transaction_database(
    postgres_database: Database, postgres_url: str, pgbouncer_transaction: PgBouncer
) -> AsyncIterator[Database]:
    async for database in _through(pgbouncer_transaction, postgres_url, Pooler.TRANSACTION):
        yield database


@pytest.fixture(scope="session")
async def pgbouncer_session_database(
    postgres_database: Database, postgres_url: str, pgbouncer_session: PgBouncer
) -> AsyncIterator[Database]:
    async for database in _through(pgbouncer_session, postgres_url, Pooler.SESSION):
        yield database


BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
# The same PostgreSQL database behind PgBouncer, for the suites that must hold there too.
POOLED = [
    pytest.param("pgbouncer_transaction", marks=pytest.mark.postgres),
    pytest.param("pgbouncer_session", marks=pytest.mark.postgres),
]


@pytest.fixture(params=BACKENDS)
def database(request: pytest.FixtureRequest) -> Database:
    """The same test on SQLite and on PostgreSQL: the run's migrated database."""
    found: Database = request.getfixturevalue(f"{request.param}_database")
    return found


@pytest.hookimpl(tryfirst=True)  # before the fixtures' own parametrization
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test marked ``also_pooled`` runs on every ``database`` of ``BACKENDS`` and ``POOLED``.
    Put first among the test's parametrizations, as the fixture's own parameters would be, so
    its ids read ``[sqlite-...]`` like everyone else's."""
    if "database" in metafunc.fixturenames and metafunc.definition.get_closest_marker(
        "also_pooled"
    ):
        every = pytest.mark.parametrize("database", [*BACKENDS, *POOLED], indirect=True)
        metafunc.definition.add_marker(every, append=False)


@pytest.fixture
def target(database: Database) -> Target:
    """``database`` and the URL a process of its own opens it by."""
    return Target.of(database)


@pytest.fixture(params=BACKENDS)
async def own_pool(request: pytest.FixtureRequest) -> AsyncIterator[Database]:
    """The run's migrated database on a pool of this test's own, closed when the test ends: a
    connection a fault leaves behind cannot reach another test, and hooks put on its engine or
    sessions reach no other test."""
    request.getfixturevalue(f"{request.param}_database")  # migrated
    async with open_database(str(request.getfixturevalue(f"{request.param}_url"))) as database:
        yield database


@pytest.fixture
async def fresh_sqlite(tmp_path: Path) -> AsyncIterator[Database]:
    """An empty, migrated SQLite file of this test's own."""
    async with open_database(f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}") as database:
        await migrations.upgrade_engine(database.engine)
        yield database


@pytest.fixture
async def fresh_postgres(postgres_url: str) -> AsyncIterator[Database]:
    """An empty, migrated PostgreSQL database of this test's own, dropped afterwards."""
    async with throwaway_database(postgres_url, "stockroom_fresh") as database:
        yield database


@pytest.fixture(params=BACKENDS)
def fresh_database(request: pytest.FixtureRequest) -> Database:
    """A fresh database of this test's own on each backend: what a test counts in it is
    exactly its own, and nothing of a server process it starts can linger in the run's
    shared database."""
    found: Database = request.getfixturevalue(f"fresh_{request.param}")
    return found


UowFactory = Callable[[], AbstractUnitOfWork]


@pytest.fixture(
    params=["fake", *BACKENDS, pytest.param("pgbouncer_transaction", marks=pytest.mark.postgres)]
)
def storage(request: pytest.FixtureRequest) -> str:
    """Which implementation of the storage ports a contract test runs on."""
    return str(request.param)


@pytest.fixture
def fake_store() -> InMemoryStore:
    return InMemoryStore()


@pytest.fixture
def uow_factory(
    storage: str, fake_store: InMemoryStore, request: pytest.FixtureRequest
) -> UowFactory:
    """Fresh units of work over one store: the fake, SQLite and PostgreSQL, same contract."""
    if storage == "fake":
        return lambda: FakeUnitOfWork(fake_store)
    database: Database = request.getfixturevalue(f"{storage}_database")
    return lambda: unit_of_work(database)


@pytest.fixture
def reads(storage: str, fake_store: InMemoryStore, request: pytest.FixtureRequest) -> AbstractReads:
    """The read port over the same store as ``uow_factory``."""
    if storage == "fake":
        return InMemoryReads(fake_store)
    database: Database = request.getfixturevalue(f"{storage}_database")
    return reads_of(database)


async def _empty_tables(database: Database) -> None:
    async with database.engine.begin() as connection:
        if database.dialect == "postgresql":
            names = ", ".join(table.name for table in metadata.sorted_tables)
            await connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(metadata.sorted_tables):
                await connection.execute(table.delete())


@pytest.fixture(autouse=True)
async def no_connection_leaks() -> AsyncIterator[None]:
    """Fail the test that leaves a connection checked out of any pool, then reset the data."""
    yield
    leaks = OPEN.leaks()
    # A leaked connection may hold locks that would hang the clean-up, so report it first.
    assert not leaks, f"connections still checked out after the test: {leaks}"
    for database in OPEN:
        await _empty_tables(database)


# --- a primary and a streaming replica of the suite's own (tests/integration/replication.py)

REPLICA_APPLY_DELAY_MS = 500


@pytest.fixture(scope="session")
def replicated_cluster() -> Iterator[ReplicatedCluster]:
    """Built once per run; the replica applies each commit 500 ms after the primary made it."""
    cluster = ReplicatedCluster(apply_delay_ms=REPLICA_APPLY_DELAY_MS)
    try:
        cluster.build()
        yield cluster
    finally:
        cluster.remove()


@dataclass(frozen=True)
class ReplicatedDatabase:
    """One migrated database, reachable on the primary and (by replication) on the replica.

    ``primary`` is watched by the leak guard, which empties its tables after each test. That
    TRUNCATE reaches the replica with the apply delay, and the replica holds its ACCESS
    EXCLUSIVE locks until then: a replica read at the start of the next test waits up to
    500 ms, unless the test first awaits ``replicated_cluster.wait_for_replay()``."""

    primary_url: str
    replica_url: str
    primary: Database


@pytest.fixture(scope="session")
async def replicated_database(
    replicated_cluster: ReplicatedCluster,
) -> AsyncIterator[ReplicatedDatabase]:
    name = "stockroom_replicated"
    await replicated_cluster.create_database(name)
    primary_url = replicated_cluster.primary_url(name)
    async for primary in _migrated(primary_url):
        # The schema is on the replica before any test reads there.
        await replicated_cluster.wait_for_replay()
        yield ReplicatedDatabase(primary_url, replicated_cluster.replica_url(name), primary)


# --- the app on the backend under test, in-process: the API tests' client


@pytest.fixture
def container(database: Database, request: pytest.FixtureRequest) -> Container:
    """The real container on ``database``; a ``settings`` marker overrides settings."""
    marker = request.node.get_closest_marker("settings")
    container = build_test_container(**(marker.kwargs if marker else {}))
    container.database.override(providers.Object(database))
    return container


@pytest.fixture
def app(container: Container) -> FastAPI:
    return create_app(container)


@pytest.fixture
async def client(app: FastAPI, request: pytest.FixtureRequest) -> AsyncIterator[httpx.AsyncClient]:
    """``app`` in-process, from an address of its own, its errors raised into the test; with
    the ``reporting_client`` marker, ``failure_support.reporting_client`` instead."""
    reporting = request.node.get_closest_marker("reporting_client") is not None
    async with reporting_client(app) if reporting else api_client(app) as client:
        yield client


@pytest.fixture
async def broker() -> AsyncIterator[Broker]:
    """The NATS server (127.0.0.1:4222) with a stream and subjects of this test's own, deleted
    after it; in CI a missing server fails the test, elsewhere it skips it."""
    async for found in connected_broker():
        yield found


@pytest.fixture
def relays() -> Iterator[list[subprocess.Popen[str]]]:
    """The relay processes a test starts; any still running at its end is killed by pid."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=30)
