"""``/health/live`` and ``/health/ready`` on a stand-in database: no database, no network."""

from __future__ import annotations

import httpx
import pytest
from dependency_injector import providers
from fastapi import FastAPI

from entrypoints.api.app import create_app
from entrypoints.api.drain import Drain
from entrypoints.api.routers.health import READY_WITHIN_SECONDS
from entrypoints.container import Container
from tests.api_support import api_client
from tests.fakes import InMemoryStore
from tests.unit.health_support import StandInDatabase, StandInReplicas


@pytest.fixture
def app(container: Container) -> FastAPI:
    """An app of each test's own: these tests begin its drain, which no later test may inherit."""
    return create_app(container)


def drain_of(app: FastAPI) -> Drain:
    drain: Drain = app.state.drain
    return drain


async def test_ready_when_the_database_answers(
    client: httpx.AsyncClient, database: StandInDatabase
) -> None:
    response = await client.get("/health/ready")

    assert response.status_code == 200
    assert response.json() == {"status": "ready", "replicas": {}}
    # One round trip, under a short timeout: a probe polling every second never waits long.
    assert database.pings == [READY_WITHIN_SECONDS]
    assert 0 < READY_WITHIN_SECONDS <= 2


async def test_a_replica_down_is_degraded_but_ready(
    container: Container, store: InMemoryStore
) -> None:
    replicas = StandInReplicas({"replica 1": "ok", "replica 2": "down"})
    with container.replicas.override(providers.Object(replicas)):
        async with api_client(create_app(container)) as client:
            response = await client.get("/health/ready")

    assert response.status_code == 200
    assert response.json() == {"status": "degraded", "replicas": replicas.states}
    assert replicas.checks == [READY_WITHIN_SECONDS]  # asked afresh, within the same bound


async def test_not_ready_when_the_database_is_unreachable(
    client: httpx.AsyncClient, database: StandInDatabase
) -> None:
    database.unreachable = True

    response = await client.get("/health/ready")

    assert response.status_code == 503
    assert response.json() == {"detail": "the database is unreachable"}
    # The driver's words (an address here) stay in the log: the endpoint is public.
    assert "10.1.2.3" not in response.text


async def test_not_ready_when_the_database_is_too_slow(
    client: httpx.AsyncClient, database: StandInDatabase
) -> None:
    database.answers_after = READY_WITHIN_SECONDS + 5

    response = await client.get("/health/ready")

    assert response.status_code == 503
    assert response.json() == {
        "detail": f"the database did not answer within {READY_WITHIN_SECONDS} s"
    }


async def test_not_ready_once_the_drain_began_without_asking_the_database(
    app: FastAPI, client: httpx.AsyncClient, database: StandInDatabase
) -> None:
    assert (await client.get("/health/ready")).status_code == 200

    drain_of(app).begin()
    response = await client.get("/health/ready")

    assert response.status_code == 503
    assert response.json() == {"detail": "shutting down"}
    assert len(database.pings) == 1  # only the first request asked the database


async def test_a_drain_that_begins_during_the_round_trip_makes_that_answer_503(
    app: FastAPI, client: httpx.AsyncClient, database: StandInDatabase
) -> None:
    database.while_pinging = drain_of(app).begin

    response = await client.get("/health/ready")

    assert database.pings == [READY_WITHIN_SECONDS]
    assert response.status_code == 503
    assert response.json() == {"detail": "shutting down"}


async def test_live_whatever_the_database_and_the_drain(
    app: FastAPI, client: httpx.AsyncClient, database: StandInDatabase
) -> None:
    assert (await client.get("/health/live")).json() == {"status": "live"}
    database.unreachable = True
    drain_of(app).begin()

    response = await client.get("/health/live")

    assert response.status_code == 200
    assert response.json() == {"status": "live"}
    assert database.pings == []  # liveness never touches the database


def test_openapi_documents_both_routes_as_public(app: FastAPI) -> None:
    document = app.openapi()
    live = document["paths"]["/health/live"]
    ready = document["paths"]["/health/ready"]
    assert set(live) == {"get"}
    assert set(ready) == {"get"}

    def schema_of(operation: dict[str, object], code: str) -> object:
        responses = operation["responses"]
        assert isinstance(responses, dict)
        return responses[code]["content"]["application/json"]["schema"]

    assert schema_of(live["get"], "200") == {"$ref": "#/components/schemas/LiveOut"}
    assert schema_of(ready["get"], "200") == {"$ref": "#/components/schemas/ReadyOut"}
    assert schema_of(ready["get"], "503") == {"$ref": "#/components/schemas/ErrorOut"}
    assert "503" not in live["get"]["responses"]
    # No security requirement: a probe carries no token. (Routes that need one declare it.)
    assert "security" not in live["get"]
    assert "security" not in ready["get"]
    assert "security" in document["paths"]["/users/me"]["get"]


async def test_both_answer_without_a_token(client: httpx.AsyncClient) -> None:
    for path in ("/health/live", "/health/ready"):
        response = await client.get(path)
        assert response.status_code == 200, (path, response.text)
