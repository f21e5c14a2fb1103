"""The HTTP API over ASGI against real SQLite and PostgreSQL, wired by the real container."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from adapters.database import Database
from tests.api_support import Account
from tests.factories import item_payload
from tests.integration.failure_support import outside_connection

pytestmark = pytest.mark.also_pooled  # these must hold behind PgBouncer too


@pytest.fixture
def client(client: httpx.AsyncClient, admin: Account) -> httpx.AsyncClient:
    client.headers.update(admin.headers)  # signed in as an admin: catalog writes are an admin's
    return client


async def _rows(database: Database) -> list[dict[str, Any]]:
    """The stored rows as the database has them (raw SQL: no type conversion by our mapping),
    read on a connection of its own, outside the pool under test."""
    async with outside_connection(database) as connection:
        result = await connection.execute(text("SELECT * FROM items ORDER BY id"))
        return [dict(row) for row in result.mappings()]


async def _create(client: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    response = await client.post("/items/", json=item_payload(**overrides))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_write_is_visible_to_the_very_next_read(
    client: httpx.AsyncClient, database: Database
) -> None:
    created = await _create(client, sku="read-after-write", price=12.5, quantity=3)

    assert (await client.get(f"/items/{created['id']}")).json() == created
    assert created in (await client.get("/items/")).json()
    assert created["sku"] == "READ-AFTER-WRITE"
    [row] = await _rows(database)
    assert (row["sku"], row["price_cents"], row["quantity"]) == ("READ-AFTER-WRITE", 1250, 3)


async def test_minimal_item_gets_generated_sku_and_zero_defaults(client: httpx.AsyncClient) -> None:
    response = await client.post("/items/", json={"title": "Just a title"})
    assert response.status_code == 201
    body = response.json()
    assert body["sku"].startswith("SKU-")
    assert (body["price"], body["quantity"], body["description"]) == ("0.00", 0, None)


async def test_update_restock_delete_round_trip(
    client: httpx.AsyncClient, database: Database
) -> None:
    created = await _create(client, quantity=2)
    item_url = f"/items/{created['id']}"

    updated = await client.put(item_url, json={"title": "Renamed", "price": "7.25"})
    assert updated.status_code == 200
    assert (await client.get(item_url)).json() == updated.json()
    assert updated.json()["title"] == "Renamed"
    assert updated.json()["price"] == "7.25"

    restocked = await client.post(f"{item_url}/restock", json={"quantity": 5})
    assert restocked.json()["quantity"] == 7
    assert (await client.get(item_url)).json()["quantity"] == 7

    deleted = await client.delete(item_url)
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert (await client.get(item_url)).status_code == 404
    assert await _rows(database) == []


async def test_duplicate_sku_is_409_and_leaves_the_original_alone(
    client: httpx.AsyncClient, database: Database
) -> None:
    original = await _create(client, sku="ONE-OF-A-KIND")
    before = await _rows(database)

    response = await client.post("/items/", json=item_payload(sku="one-of-a-kind"))

    assert response.status_code == 409
    assert "ONE-OF-A-KIND" in response.json()["detail"]
    assert await _rows(database) == before
    assert (await client.get(f"/items/{original['id']}")).json() == original


async def test_a_failed_update_changes_nothing_at_all(
    client: httpx.AsyncClient, database: Database
) -> None:
    await _create(client, sku="TAKEN")
    victim = await _create(client, sku="VICTIM", title="Original title")
    before = await _rows(database)

    # The title change is valid, the SKU clash is not: the whole request must be refused.
    response = await client.put(f"/items/{victim['id']}", json={"title": "New", "sku": "taken"})

    assert response.status_code == 409
    assert await _rows(database) == before


@pytest.mark.parametrize(
    "body",
    [
        {"title": ""},
        {"title": "x", "price": -1},
        {"title": "x", "price": "1.001"},
        {"title": "x", "quantity": -5},
        {"title": "x", "quantity": 2**63},
        {"title": "x", "sku": "'; DROP TABLE items; --"},
        {"title": "x", "unexpected": True},
    ],
)
async def test_invalid_input_is_422_and_stores_nothing(
    client: httpx.AsyncClient, database: Database, body: dict[str, Any]
) -> None:
    response = await client.post("/items/", json=body)
    assert response.status_code == 422
    assert isinstance(response.json()["detail"], list)
    assert await _rows(database) == []


async def test_non_finite_price_is_422_not_500(
    client: httpx.AsyncClient, database: Database
) -> None:
    for raw in (
        '{"title": "x", "price": Infinity}',
        '{"title": "x", "price": NaN}',
        '{"title": "x", "price": 1e400}',
    ):
        response = await client.post(
            "/items/", content=raw, headers={"content-type": "application/json"}
        )
        assert response.status_code == 422, raw
    assert await _rows(database) == []


async def test_unknown_item_is_404_everywhere(client: httpx.AsyncClient) -> None:
    responses = [
        await client.get("/items/424242"),
        await client.put("/items/424242", json={"title": "x"}),
        await client.delete("/items/424242"),
        await client.post("/items/424242/restock", json={"quantity": 1}),
    ]
    assert [response.status_code for response in responses] == [404] * 4
    assert all("424242" in response.json()["detail"] for response in responses)


async def test_concurrent_creates_with_one_sku_store_exactly_one(
    client: httpx.AsyncClient, database: Database
) -> None:
    body = item_payload(sku="RACE")
    responses = await asyncio.gather(*(client.post("/items/", json=body) for _ in range(10)))
    codes = sorted(response.status_code for response in responses)
    assert codes == [201] + [409] * 9
    assert [row["sku"] for row in await _rows(database)] == ["RACE"]


async def test_pagination(client: httpx.AsyncClient) -> None:
    created = [await _create(client) for _ in range(4)]
    page = (await client.get("/items/", params={"skip": 1, "limit": 2})).json()
    assert [item["id"] for item in page] == [item["id"] for item in created[1:3]]
    assert (await client.get("/items/", params={"limit": 101})).status_code == 422


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/items/", "GET, POST"),
        ("OPTIONS", "/items/", "GET, POST"),
        ("PATCH", "/items/1", "DELETE, GET, PUT"),
        ("PUT", "/items/export", "GET"),  # not taken for an item called "export"
        ("DELETE", "/orders/", "GET, POST"),
        ("GET", "/token", "POST"),
    ],
)
async def test_a_method_the_path_lacks_is_405_naming_every_method_it_has(
    client: httpx.AsyncClient, method: str, path: str, allowed: str
) -> None:
    """RFC 9110: a 405 carries Allow with the target's methods, all of them. Starlette named
    only those of the first route it tried (GET and POST /items/ are two routes)."""
    response = await client.request(method, path)

    assert response.status_code == 405, response.text
    assert response.headers["allow"] == allowed
    assert response.json() == {"detail": "Method Not Allowed"}
