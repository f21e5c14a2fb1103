"""``GET /items/?sku=`` and ``GET /orders/?status=`` over ASGI, on the fake store."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from entrypoints.container import Container
from tests.api_support import Account, make_account
from tests.fakes import InMemoryStore
from tests.unit.order_support import shelf
from tests.unit.support import item_id, seed, seed_one

# --- GET /items/?sku= -------------------------------------------------------------------------


@pytest.mark.parametrize("asked", ["MUG-01", "mug-01", "  Mug-01 "])
async def test_sku_filter_returns_exactly_that_item_normalised(
    client: httpx.AsyncClient, store: InMemoryStore, asked: str
) -> None:
    await seed(store, 3)
    mug = await seed_one(store, sku="MUG-01")
    await seed(store, 3)

    response = await client.get("/items/", params={"sku": asked})

    assert response.status_code == 200, response.text
    assert [item["id"] for item in response.json()] == [item_id(mug)]
    assert response.json()[0]["sku"] == "MUG-01"


async def test_sku_filter_for_an_unknown_sku_is_an_empty_list(
    client: httpx.AsyncClient, store: InMemoryStore
) -> None:
    await seed(store, 3)

    response = await client.get("/items/", params={"sku": "NOT-HERE"})

    assert (response.status_code, response.json()) == (200, [])


async def test_sku_filter_still_pages(client: httpx.AsyncClient, store: InMemoryStore) -> None:
    mug = await seed_one(store, sku="MUG-01")
    await seed(store, 3)

    first = await client.get("/items/", params={"sku": "MUG-01", "limit": 1})
    second = await client.get("/items/", params={"sku": "MUG-01", "skip": 1})

    assert [item["id"] for item in first.json()] == [item_id(mug)]
    assert (second.status_code, second.json()) == (200, [])


@pytest.mark.parametrize("malformed", ["", "MUG 01", "-MUG", "MUG/01", "M" * 65])
async def test_a_malformed_sku_is_422(
    client: httpx.AsyncClient, store: InMemoryStore, malformed: str
) -> None:
    await seed(store, 2)

    response = await client.get("/items/", params={"sku": malformed})

    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["query", "sku"]


# --- GET /orders/?status= ---------------------------------------------------------------------


async def _order(client: httpx.AsyncClient, who: Account, sku: str) -> dict[str, Any]:
    response = await client.post(
        "/orders/", json={"lines": [{"sku": sku, "quantity": 1}]}, headers=who.headers
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def _cancel(client: httpx.AsyncClient, who: Account, order: dict[str, Any]) -> None:
    response = await client.post(f"/orders/{order['id']}/cancel", headers=who.headers)
    assert response.status_code == 200, response.text


async def _ids(client: httpx.AsyncClient, who: Account, status: str) -> list[int]:
    response = await client.get("/orders/", params={"status": status}, headers=who.headers)
    assert response.status_code == 200, response.text
    assert {order["status"] for order in response.json()} <= {status}
    return [order["id"] for order in response.json()]


async def test_status_filters_own_orders_and_an_admins_see_everyones(
    client: httpx.AsyncClient, store: InMemoryStore, container: Container, admin: Account
) -> None:
    alice = await make_account(container, admin=False)
    bob = await make_account(container, admin=False)
    await shelf(store, ("A-1", 50, "1"))
    alice_kept = await _order(client, alice, "A-1")
    alice_cancelled = await _order(client, alice, "A-1")
    await _cancel(client, alice, alice_cancelled)
    bob_cancelled = await _order(client, bob, "A-1")
    await _cancel(client, bob, bob_cancelled)
    bob_kept = await _order(client, bob, "A-1")

    assert await _ids(client, alice, "cancelled") == [alice_cancelled["id"]]
    assert await _ids(client, alice, "placed") == [alice_kept["id"]]
    assert await _ids(client, bob, "cancelled") == [bob_cancelled["id"]]
    assert await _ids(client, alice, "shipped") == []
    # Newest first, everyone's.
    assert await _ids(client, admin, "cancelled") == [bob_cancelled["id"], alice_cancelled["id"]]
    assert await _ids(client, admin, "placed") == [bob_kept["id"], alice_kept["id"]]


async def test_an_unknown_status_is_422_listing_the_allowed_values(
    client: httpx.AsyncClient, admin: Account
) -> None:
    response = await client.get("/orders/", params={"status": "lost"}, headers=admin.headers)

    assert response.status_code == 422, response.text
    (problem,) = response.json()["detail"]
    assert problem["loc"] == ["query", "status"]
    for allowed in ("placed", "shipped", "cancelled"):
        assert f"'{allowed}'" in problem["msg"]
