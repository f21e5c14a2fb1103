"""Fixtures for the unit suite: the app, the CLI and the container on the fakes.

One container and one app per module (building an app's routes costs more than most tests
here); each test has them on a store and a stand-in database of its own, so no state crosses
from one test to the next.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from dependency_injector import providers
from fastapi import FastAPI

from entrypoints.api.app import create_app
from entrypoints.container import Container
from tests.api_support import api_client, build_test_container
from tests.fakes import InMemoryStore, use_fakes
from tests.unit.cli_support import Run, invoker
from tests.unit.health_support import StandInDatabase

# What the application writes when it falls back to its defaults: the embedded SQLite database
# (with its WAL files) and the development signing key. A unit test must create none of them.
APP_FILES = frozenset(
    {"stockroom.db", "stockroom.db-wal", "stockroom.db-shm", "stockroom.db-journal"}
    | {".stockroom-secret"}
)


@pytest.fixture(autouse=True)
def _creates_no_application_files() -> Iterator[None]:
    before = APP_FILES.intersection(os.listdir())
    yield
    created = APP_FILES.intersection(os.listdir()) - before
    assert not created, f"a unit test wrote {sorted(created)} in {os.getcwd()}"


@pytest.fixture
def store() -> InMemoryStore:
    """The committed state every unit of work in one test shares, as the container shares it."""
    return InMemoryStore()


@pytest.fixture
def database() -> StandInDatabase:
    """What the container hands out as its database: pings answered as the test says,
    disposals counted."""
    return StandInDatabase()


@pytest.fixture(scope="module")
def module_container() -> Container:
    """The real container (test key, cheap Argon2), built once per module for ``app``."""
    return build_test_container()


@pytest.fixture
def container(
    module_container: Container, store: InMemoryStore, database: StandInDatabase
) -> Iterator[Container]:
    """The module's container with this test's store behind its units of work and reads, and
    this test's stand-in database; the app asks the container per request, so the module's
    app serves this test's store."""
    with (
        use_fakes(module_container, store),
        module_container.database.override(providers.Object(database)),
    ):
        yield module_container


@pytest.fixture(scope="module")
def app(module_container: Container) -> FastAPI:
    return create_app(module_container)


@pytest.fixture
async def client(app: FastAPI, container: Container) -> AsyncIterator[httpx.AsyncClient]:
    """The module's app, in-process, on this test's store (``container``)."""
    async with api_client(app) as client:
        yield client


@pytest.fixture
def run(container: Container) -> Run:
    """``stockroom ...`` on this test's container, as the CLI's entry point runs it."""
    return invoker(container)
