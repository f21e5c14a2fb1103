"""``/health/live``, ``/health/ready`` and ``/health/dependencies`` on a stand-in database: no
database, no network. Readiness answers from the worker's last dependency check
(entrypoints/api/readiness.py); the app's lifespan checks once before it serves."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from dependency_injector import providers
from fastapi import FastAPI

from entrypoints.api.app import create_app
from entrypoints.api.drain import Drain
from entrypoints.api.readiness import (
    CHECK_WITHIN_SECONDS,
    POOL_WEDGED,
    STANDBY,
    TOO_SLOW,
    UNREACHABLE,
    WEDGED_AFTER_SECONDS,
    Readiness,
)
from entrypoints.container import Container
from tests.api_support import api_client
from tests.fakes import InMemoryStore
from tests.unit.health_support import StandInDatabase, StandInReplicas


@pytest.fixture
def app(container: Container) -> FastAPI:
    """An app of each test's own: these tests begin its drain, which no later test may inherit."""
    return create_app(container)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the app as a server runs it: inside its lifespan."""
    async with app.router.lifespan_context(app), api_client(app) as client:
        yield client


def drain_of(app: FastAPI) -> Drain:
    drain: Drain = app.state.drain
    return drain


def readiness_of(app: FastAPI) -> Readiness:
    readiness: Readiness = app.state.readiness
    return readiness


async def test_ready_when_the_database_answers_and_the_probe_asks_nothing(
    client: httpx.AsyncClient, database: StandInDatabase
) -> None:
    assert database.pings == [CHECK_WITHIN_SECONDS]  # the lifespan's check, before serving

    for _ in range(3):
        response = await client.get("/health/ready")
        assert response.status_code == 200
        assert response.json() == {"status": "ready", "database": "ok", "replicas": {}}
    assert database.pings == [CHECK_WITHIN_SECONDS]  # polled every second: no IO at all
    assert 0 < CHECK_WITHIN_SECONDS <= 1


async def test_without_a_lifespan_the_first_probe_checks(
    app: FastAPI, database: StandInDatabase
) -> None:
    async with api_client(app) as client:  # in-process, no lifespan: nothing checked yet
        assert (await client.get("/health/ready")).status_code == 200
        assert (await client.get("/health/ready")).status_code == 200
    assert database.pings == [CHECK_WITHIN_SECONDS]  # once, then from what it found


async def test_a_replica_down_is_degraded_but_ready(
    container: Container, store: InMemoryStore
) -> None:
    replicas = StandInReplicas({"replica 1": "ok", "replica 2": "down"})
    with container.replicas.override(providers.Object(replicas)):
        app = create_app(container)
        async with app.router.lifespan_context(app), api_client(app) as client:
            response = await client.get("/health/ready")

    assert response.status_code == 200
    assert response.json() == {"status": "degraded", "database": "ok", "replicas": replicas.states}
    assert replicas.checks == [CHECK_WITHIN_SECONDS]


@pytest.mark.parametrize(
    ("fault", "state", "detail"),
    [("unreachable", "unreachable", UNREACHABLE), ("slow", "slow", TOO_SLOW)],
)
async def test_a_database_blip_is_degraded_not_unready(
    app: FastAPI,
    client: httpx.AsyncClient,
    database: StandInDatabase,
    fault: str,
    state: str,
    detail: str,
) -> None:
    """Every instance shares the database: pulling them all would turn a blip into an outage.
    The app answers what needs the database with 503 + Retry-After itself."""
    database.unreachable = fault == "unreachable"
    database.answers_after = CHECK_WITHIN_SECONDS + 5 if fault == "slow" else 0
    await readiness_of(app).check()  # the worker's next check

    response = await client.get("/health/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "degraded", "database": state, "replicas": {}}

    checked = await client.get("/health/dependencies")
    assert checked.status_code == 503
    assert checked.json() == {"detail": detail}
    # The driver's words (an address here) stay in the log: the endpoints are public.
    assert "10.1.2.3" not in checked.text + response.text


async def test_a_standby_as_the_database_is_not_ready(
    app: FastAPI, client: httpx.AsyncClient, database: StandInDatabase
) -> None:
    database.is_standby = True  # a failover demoted it, or the URL names a replica
    await readiness_of(app).check()

    response = await client.get("/health/ready")
    assert response.status_code == 503
    assert response.json() == {"detail": STANDBY}
    assert (await client.get("/health/dependencies")).status_code == 503


async def test_a_wedged_pool_is_not_ready_when_the_database_answers(
    app: FastAPI, client: httpx.AsyncClient, database: StandInDatabase
) -> None:
    database.stuck = WEDGED_AFTER_SECONDS + 1  # callers waiting, nobody served

    response = await client.get("/health/ready")
    assert response.status_code == 503
    assert response.json() == {"detail": POOL_WEDGED}

    # The same pool while the database itself does not answer: that is the database's blip,
    # which every instance shares, not this worker's fault.
    database.unreachable = True
    await readiness_of(app).check()
    assert (await client.get("/health/ready")).status_code == 200


async def test_not_ready_once_the_drain_began(
    app: FastAPI, client: httpx.AsyncClient, database: StandInDatabase
) -> None:
    assert (await client.get("/health/ready")).status_code == 200

    drain_of(app).begin()
    response = await client.get("/health/ready")

    assert response.status_code == 503
    assert response.json() == {"detail": "shutting down"}


async def test_dependencies_are_checked_now(
    app: FastAPI, client: httpx.AsyncClient, database: StandInDatabase
) -> None:
    response = await client.get("/health/dependencies")

    assert response.status_code == 200
    assert response.json() == {"database": "ok", "replicas": {}}
    assert len(database.pings) == 2  # the lifespan's check and this one


async def test_live_whatever_the_database_and_the_drain(
    app: FastAPI, client: httpx.AsyncClient, database: StandInDatabase
) -> None:
    database.unreachable = True
    drain_of(app).begin()
    pings = len(database.pings)

    response = await client.get("/health/live")

    assert response.status_code == 200
    assert response.json() == {"status": "live"}
    assert len(database.pings) == pings  # liveness never touches the database


def test_openapi_documents_the_routes_as_public(app: FastAPI) -> None:
    document = app.openapi()
    live = document["paths"]["/health/live"]
    ready = document["paths"]["/health/ready"]
    dependencies = document["paths"]["/health/dependencies"]
    assert set(live) == set(ready) == set(dependencies) == {"get"}

    def schema_of(operation: dict[str, object], code: str) -> object:
        responses = operation["responses"]
        assert isinstance(responses, dict)
        return responses[code]["content"]["application/json"]["schema"]

    assert schema_of(live["get"], "200") == {"$ref": "#/components/schemas/LiveOut"}
    assert schema_of(ready["get"], "200") == {"$ref": "#/components/schemas/ReadyOut"}
    assert schema_of(ready["get"], "503") == {"$ref": "#/components/schemas/ErrorOut"}
    assert schema_of(dependencies["get"], "503") == {"$ref": "#/components/schemas/ErrorOut"}
    assert "503" not in live["get"]["responses"]
    # No security requirement: a probe carries no token. (Routes that need one declare it.)
    for operation in (live, ready, dependencies):
        assert "security" not in operation["get"]
    assert "security" in document["paths"]["/users/me"]["get"]


async def test_they_answer_without_a_token(client: httpx.AsyncClient) -> None:
    for path in ("/health/live", "/health/ready", "/health/dependencies"):
        response = await client.get(path)
        assert response.status_code == 200, (path, response.text)
