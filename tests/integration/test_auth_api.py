"""Registration and login against real SQLite and PostgreSQL, over ASGI."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlalchemy import text

from adapters.database import Database
from tests.api_support import new_password
from tests.integration.failure_support import outside_connection

pytestmark = pytest.mark.also_pooled  # these must hold behind PgBouncer too


async def _user_rows(database: Database) -> list[tuple[str, str, str]]:
    """The stored users, read with raw SQL on a connection outside the pool under test."""
    async with outside_connection(database) as connection:
        result = await connection.execute(text("SELECT email, role, password_hash FROM users"))
        return [(row.email, row.role, row.password_hash) for row in result]


async def test_register_log_in_and_see_yourself(
    client: httpx.AsyncClient, database: Database
) -> None:
    password = new_password()
    registered = await client.post(
        "/users/", json={"email": "Ann@Example.com", "password": password}
    )
    assert registered.status_code == 201
    body = registered.json()
    assert set(body) == {"id", "email", "role", "is_active", "created_at"}
    assert (body["email"], body["role"], body["is_active"]) == ("ann@example.com", "customer", True)

    login = await client.post("/token", data={"username": "ANN@example.com", "password": password})
    assert login.status_code == 200
    assert login.json()["token_type"] == "bearer"
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    assert (await client.get("/users/me", headers=headers)).json() == body

    [(email, role, password_hash)] = await _user_rows(database)
    assert (email, role) == ("ann@example.com", "customer")
    assert password_hash.startswith("$argon2id$")


async def test_wrong_password_and_unknown_email_get_the_same_invalid_grant(
    client: httpx.AsyncClient,
) -> None:
    password = new_password()
    await client.post("/users/", json={"email": "bo@example.com", "password": password})
    wrong = await client.post(
        "/token", data={"username": "bo@example.com", "password": "nope-nope"}
    )
    unknown = await client.post(
        "/token", data={"username": "who@example.com", "password": password}
    )
    assert wrong.status_code == unknown.status_code == 400  # RFC 6749 5.2
    description = "incorrect email or password (username is the account's email address)"
    invalid_grant = {"error": "invalid_grant", "error_description": description}
    assert wrong.json() == unknown.json() == invalid_grant
    assert "www-authenticate" not in wrong.headers  # only for invalid_client


async def test_taken_email_is_409_whatever_its_case(
    client: httpx.AsyncClient, database: Database
) -> None:
    first = await client.post(
        "/users/", json={"email": "cy@example.com", "password": new_password()}
    )
    again = await client.post(
        "/users/", json={"email": "CY@example.COM", "password": new_password()}
    )
    assert (first.status_code, again.status_code) == (201, 409)
    assert len(await _user_rows(database)) == 1


@pytest.mark.parametrize(
    "body",
    [
        {"email": "not-an-email", "password": "long enough pw"},
        {"email": "dee@example.com", "password": "short"},
        {"email": "dee@example.com"},
        {"email": "dee@example.com", "password": "long enough pw", "role": "admin"},
    ],
)
async def test_invalid_registration_is_422_and_stores_nothing(
    client: httpx.AsyncClient, database: Database, body: dict[str, str]
) -> None:
    response = await client.post("/users/", json=body)
    assert response.status_code == 422
    assert await _user_rows(database) == []


async def test_concurrent_registrations_of_one_email_make_exactly_one_account(
    client: httpx.AsyncClient, database: Database
) -> None:
    body = {"email": "race@example.com", "password": new_password()}
    responses = await asyncio.gather(*(client.post("/users/", json=body) for _ in range(2)))
    assert sorted(response.status_code for response in responses) == [201, 409]
    assert len(await _user_rows(database)) == 1
