"""Money in the API (issue 24): every amount an answer carries is text with exactly two
places, labelled with the shop's one currency (STOCKROOM_CURRENCY); and a price finer than a
cent gets one and the same 422 however it is sent.

The module's app runs with a currency other than the default, so that an answer which skips
the label (and says the default "EUR") fails here.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from domain.item import TOO_MANY_PLACES
from entrypoints.container import Container
from tests.api_support import Account, build_test_container
from tests.fakes import InMemoryStore
from tests.unit.support import item_id, seed_one, snapshot

CURRENCY = "CHF"
AMOUNT = re.compile(r"[0-9]+\.[0-9]{2}")
JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def module_container() -> Container:
    """The conftest's app, built on a container whose shop sells in Swiss francs."""
    return build_test_container(currency=CURRENCY)


def assert_item(body: dict[str, Any], price: str) -> None:
    assert (body["price"], body["currency"]) == (price, CURRENCY), body


def assert_order(body: dict[str, Any], total: str, unit_prices: list[str]) -> None:
    assert (body["total"], body["currency"]) == (total, CURRENCY), body
    assert [line["unit_price"] for line in body["lines"]] == unit_prices
    for line in body["lines"]:
        assert AMOUNT.fullmatch(line["total"]), line
        # The order's currency is every line's: said once, at the top.
        assert "currency" not in line


async def test_every_item_answer_shows_the_price_as_text_in_the_shop_currency(
    client: httpx.AsyncClient, admin: Account
) -> None:
    client.headers.update(admin.headers)
    created = await client.post("/items/", json={"title": "Mug", "sku": "MUG-1", "price": 8})
    assert created.status_code == 201, created.text
    assert_item(created.json(), "8.00")
    url = f"/items/{created.json()['id']}"

    assert_item((await client.get(url)).json(), "8.00")
    [listed] = (await client.get("/items/")).json()
    assert_item(listed, "8.00")
    updated = await client.put(url, json={"price": 9.5})
    assert_item(updated.json(), "9.50")
    restocked = await client.post(f"{url}/restock", json={"quantity": 1})
    assert_item(restocked.json(), "9.50")

    exported = await client.get("/items/export")
    [line] = [json.loads(text) for text in exported.text.splitlines()]
    assert_item(line, "9.50")


async def test_every_order_answer_shows_amounts_as_text_in_the_shop_currency(
    client: httpx.AsyncClient, store: InMemoryStore, admin: Account, customer: Account
) -> None:
    await seed_one(store, sku="CUP", price="2.50", quantity=10)
    await seed_one(store, sku="POT", price="10", quantity=10)
    body = {"lines": [{"sku": "CUP", "quantity": 3}, {"sku": "POT", "quantity": 1}]}
    placed = await client.post("/orders/", json=body, headers=customer.headers)
    assert placed.status_code == 201, placed.text
    assert_order(placed.json(), "17.50", ["2.50", "10.00"])
    assert [line["total"] for line in placed.json()["lines"]] == ["7.50", "10.00"]
    url = f"/orders/{placed.json()['id']}"

    assert_order(
        (await client.get(url, headers=customer.headers)).json(), "17.50", ["2.50", "10.00"]
    )
    [listed] = (await client.get("/orders/", headers=customer.headers)).json()
    assert_order(listed, "17.50", ["2.50", "10.00"])
    shipped = await client.post(f"{url}/ship", headers=admin.headers)
    assert_order(shipped.json(), "17.50", ["2.50", "10.00"])

    another = await client.post("/orders/", json=body, headers=customer.headers)
    cancelled = await client.post(
        f"/orders/{another.json()['id']}/cancel", headers=customer.headers
    )
    assert_order(cancelled.json(), "17.50", ["2.50", "10.00"])


async def test_the_schema_says_amounts_are_decimal_text_beside_a_currency(
    client: httpx.AsyncClient,
) -> None:
    schemas = (await client.get("/openapi.json")).json()["components"]["schemas"]
    for model, field in [
        ("ItemOut", "price"),
        ("OrderOut", "total"),
        ("OrderLineOut", "unit_price"),
        ("OrderLineOut", "total"),
    ]:
        amount = schemas[model]["properties"][field]
        assert (amount["type"], amount["format"]) == ("string", "decimal"), (model, field)
    for model in ("ItemOut", "OrderOut"):
        assert schemas[model]["properties"]["currency"]["type"] == "string"
        assert "currency" in schemas[model]["required"]


# A price finer than a cent, as a JSON number, as text, and as a client's 0.1 + 0.2: each is
# written into the body exactly as here (no re-encoding on the way).
FINER_THAN_A_CENT = ["9.999", '"9.999"', "0.30000000000000004"]


def assert_too_many_places(response: httpx.Response) -> None:
    assert response.status_code == 422, response.text
    [problem] = response.json()["detail"]
    assert (problem["loc"][-1], problem["msg"]) == ("price", TOO_MANY_PLACES), problem
    assert problem["type"] == "decimal_max_places"


@pytest.mark.parametrize("price", FINER_THAN_A_CENT)
async def test_creating_at_a_price_finer_than_a_cent_gets_one_message_whatever_its_type(
    client: httpx.AsyncClient, store: InMemoryStore, admin: Account, price: str
) -> None:
    body = f'{{"title": "Mug", "price": {price}}}'
    response = await client.post("/items/", content=body, headers={**JSON, **admin.headers})
    assert_too_many_places(response)
    assert store.items == {}


@pytest.mark.parametrize("price", FINER_THAN_A_CENT)
async def test_repricing_finer_than_a_cent_gets_one_message_whatever_its_type(
    client: httpx.AsyncClient, store: InMemoryStore, admin: Account, price: str
) -> None:
    item = await seed_one(store, price="1.00")
    before = snapshot(store)
    response = await client.put(
        f"/items/{item_id(item)}",
        content=f'{{"price": {price}}}',
        headers={**JSON, **admin.headers},
    )
    assert_too_many_places(response)
    assert snapshot(store) == before
