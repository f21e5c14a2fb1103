"""``GET /items/`` filters (``sku``, ``q``, ``in_stock``, ``min_price``, ``max_price``) and
``GET /orders/?status=`` over ASGI, on the fake store."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest

from domain.item import TOO_MANY_PLACES
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


# --- GET /items/?q=, ?in_stock=, ?min_price=, ?max_price= ----------------------------------------


async def _item_ids(client: httpx.AsyncClient, **params: Any) -> list[int]:
    response = await client.get("/items/", params=params)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()]


async def test_q_finds_titles_containing_the_text_in_any_case(
    client: httpx.AsyncClient, store: InMemoryStore
) -> None:
    mugs = [await seed_one(store, title=title) for title in ("Blue MUG", "mug tree", "Smuggler")]
    await seed_one(store, title="Teapot")

    assert await _item_ids(client, q="mug") == [item_id(mug) for mug in mugs]
    assert await _item_ids(client, q="MuG T") == [item_id(mugs[1])]
    assert await _item_ids(client, q="kettle") == []


@pytest.mark.parametrize(
    ("asked", "found"),
    [("100%", ["100% cotton"]), ("a_b", ["a_b"]), ("%", ["100% cotton"]), ("_", ["a_b"])],
)
async def test_q_takes_like_wildcards_literally(
    client: httpx.AsyncClient, store: InMemoryStore, asked: str, found: list[str]
) -> None:
    for title in ("100% cotton", "1000 cotton", "a_b", "axb"):
        await seed_one(store, title=title)

    response = await client.get("/items/", params={"q": asked})

    assert [item["title"] for item in response.json()] == found


async def test_in_stock_splits_the_catalog(client: httpx.AsyncClient, store: InMemoryStore) -> None:
    empty = await seed(store, 2, quantity=0)
    stocked = await seed(store, 3, quantity=1)

    assert await _item_ids(client, in_stock="true") == [item_id(item) for item in stocked]
    assert await _item_ids(client, in_stock="false") == [item_id(item) for item in empty]


async def test_a_price_range_is_inclusive_at_both_ends(
    client: httpx.AsyncClient, store: InMemoryStore
) -> None:
    priced = {
        price: item_id(await seed_one(store, price=Decimal(price)))
        for price in ("0.99", "1.00", "5.50", "10.00", "10.01")
    }

    assert await _item_ids(client, min_price="1", max_price="10.00") == [
        priced["1.00"],
        priced["5.50"],
        priced["10.00"],
    ]
    assert await _item_ids(client, min_price="10") == [priced["10.00"], priced["10.01"]]
    assert await _item_ids(client, max_price="0.99") == [priced["0.99"]]
    assert await _item_ids(client, min_price="5.5", max_price="5.50") == [priced["5.50"]]


async def test_filters_combine_and_page_together(
    client: httpx.AsyncClient, store: InMemoryStore
) -> None:
    wanted = [
        item_id(await seed_one(store, title=f"Mug {n}", quantity=n % 2, price=Decimal(n)))
        for n in range(1, 13)
    ]
    expected = [wanted[n - 1] for n in range(1, 13) if n % 2 and 3 <= n <= 11]  # 3,5,...,11

    first = await client.get(
        "/items/",
        params={"q": "mug", "in_stock": "true", "min_price": 3, "max_price": 11, "limit": 3},
    )
    link = first.headers["link"]
    second = await client.get(link[1 : link.index(">")])

    assert [item["id"] for item in first.json() + second.json()] == expected
    assert "link" not in second.headers


async def test_a_minimum_above_the_maximum_is_a_422(client: httpx.AsyncClient) -> None:
    response = await client.get("/items/", params={"min_price": "5", "max_price": "4.99"})

    assert response.status_code == 422, response.text
    (problem,) = response.json()["detail"]
    assert problem["loc"] == ["query", "max_price"]
    assert "min_price" in problem["msg"]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("min_price", "-1"),
        ("max_price", "1.001"),
        ("min_price", "NaN"),
        ("max_price", "Infinity"),
        ("min_price", "100000000"),
        ("in_stock", "perhaps"),
        ("q", ""),
        ("q", "x" * 201),
    ],
)
async def test_a_malformed_filter_is_a_422_naming_it(
    client: httpx.AsyncClient, name: str, value: str
) -> None:
    response = await client.get("/items/", params={name: value})

    assert response.status_code == 422, response.text
    assert [problem["loc"] for problem in response.json()["detail"]] == [["query", name]]


async def test_a_price_bound_finer_than_a_cent_gets_the_bodies_message(
    client: httpx.AsyncClient,
) -> None:
    # The same words as a price in a body (entrypoints/api/prices.py), not pydantic's own.
    response = await client.get("/items/", params={"max_price": "1.001"})

    assert response.status_code == 422, response.text
    (problem,) = response.json()["detail"]
    assert (problem["type"], problem["msg"]) == ("decimal_max_places", TOO_MANY_PLACES)


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
