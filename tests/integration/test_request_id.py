"""Every response carries ``X-Request-ID``, whatever its status and however it was produced; a
sane id from the client is echoed, anything else is replaced by a fresh one, so a client can
neither forge log lines nor flood them."""

from __future__ import annotations

import re

import httpx
import pytest
from dependency_injector import providers
from fastapi import FastAPI

from adapters.database import Database
from entrypoints.api.app import create_app
from entrypoints.container import Container
from entrypoints.settings import Settings
from service_layer.services import items as item_services
from tests.api_support import Account
from tests.integration.databases import open_database
from tests.integration.failure_support import exchange, reporting_client

GENERATED = re.compile(r"^[0-9a-f]{32}$")
SANE = ["abc-123.X_y", "0", "A" * 64, "req.2026-11-21_23-59"]
# Raw header bytes, as a client could send them (httpx refuses to send some of these).
UNSAFE = [
    b"",
    b"A" * 65,
    b"has space",
    b"slash/ed",
    b"semi;colon",
    b"line\nbreak",
    b"fake\r\nX-Injected: 1",
    "caf\u00e9".encode("latin-1"),
    b"\xff\xfe",
]


pytestmark = pytest.mark.reporting_client  # a 500 must come back, carrying its id


@pytest.fixture
def database(sqlite_database: Database) -> Database:
    return sqlite_database  # SQLite only: what a request id does is the same on any database


@pytest.mark.parametrize("given", SANE)
async def test_a_sane_client_id_is_echoed(client: httpx.AsyncClient, given: str) -> None:
    response = await client.get("/items/", headers={"X-Request-ID": given})
    assert response.status_code == 200
    assert response.headers["X-Request-ID"] == given


@pytest.mark.parametrize("given", UNSAFE, ids=repr)
async def test_an_unsafe_client_id_is_replaced(app: FastAPI, given: bytes) -> None:
    result = await exchange(app, "GET", "/items/", headers=[(b"x-request-id", given)])
    assert result.status == 200
    returned = result.headers["x-request-id"]
    assert GENERATED.fullmatch(returned), returned
    assert [name for name, _ in result.messages[0]["headers"]].count(b"x-request-id") == 1


async def test_without_a_client_id_every_response_gets_a_fresh_one(
    client: httpx.AsyncClient,
) -> None:
    ids = [(await client.get("/items/")).headers["X-Request-ID"] for _ in range(3)]
    assert all(GENERATED.fullmatch(found) for found in ids)
    assert len(set(ids)) == 3


ERROR_STATUSES = [401, 403, 404, 409, 413, 422]


@pytest.mark.parametrize("status", ERROR_STATUSES)
async def test_an_error_response_carries_the_id(
    client: httpx.AsyncClient, admin: Account, customer: Account, status: int
) -> None:
    taken = {"title": "Dup", "sku": "DUP"}
    assert (await client.post("/items/", json=taken, headers=admin.headers)).status_code == 201
    requests = {
        401: client.build_request("POST", "/items/", json={"title": "x"}),
        403: client.build_request("POST", "/items/", json={"title": "x"}, headers=customer.headers),
        404: client.build_request("GET", "/items/999999"),
        409: client.build_request("POST", "/items/", json=taken, headers=admin.headers),
        413: client.build_request(
            "POST",
            "/items/",
            content=b"x" * (Settings().max_body_bytes + 1),
            headers={**admin.headers, "content-type": "application/json"},
        ),
        422: client.build_request("POST", "/items/", json={"price": 1}, headers=admin.headers),
    }
    request = requests[status]
    request.headers["X-Request-ID"] = f"req-{status}"

    response = await client.send(request)

    assert response.status_code == status, response.text
    assert response.headers.get("X-Request-ID") == f"req-{status}"


async def test_a_503_carries_the_id(container: Container) -> None:
    """The database is unreachable (nothing listens on port 1): registering a customer opens
    a unit of work, whose connection is refused; that is a 503, and it carries the id."""
    async with open_database("postgresql+asyncpg://postgres@127.0.0.1:1/nowhere") as down:
        container.database.override(providers.Object(down))
        async with reporting_client(create_app(container)) as client:
            response = await client.post(
                "/users/",
                json={"email": "down@example.com", "password": "long enough password"},
                headers={"X-Request-ID": "req-503"},
            )
    assert response.status_code == 503, response.text
    assert response.headers["Retry-After"] == "1"
    assert response.headers.get("X-Request-ID") == "req-503"


async def test_an_unexpected_500_carries_the_id(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug anywhere below the routes becomes a 500; the id is what lets an operator find
    its traceback in the log, so it matters most on exactly this response."""

    async def broken(*_: object, **__: object) -> None:
        raise RuntimeError("injected: a bug in a service")

    monkeypatch.setattr(item_services, "get_item", broken)
    response = await client.get("/items/1", headers={"X-Request-ID": "req-500"})
    assert response.status_code == 500
    assert response.headers.get("X-Request-ID") == "req-500"
