"""The HTTP API end to end over ASGI, with the container's unit of work swapped for the fake.

Every failed write is checked against a snapshot of the store: nothing may be half-written.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import httpx
import pytest

from domain.item import MAX_PRICE, MAX_QUANTITY, SKU_PATTERN
from service_layer.services.items import MAX_PAGE_SIZE
from tests.api_support import Account
from tests.factories import item_payload
from tests.fakes import InMemoryStore
from tests.unit.support import item_id, seed, seed_one, snapshot

ITEM_FIELDS = {"id", "sku", "title", "description", "price", "quantity", "currency"}
JSON = {"content-type": "application/json"}


@pytest.fixture
def client(client: httpx.AsyncClient, admin: Account) -> httpx.AsyncClient:
    """Signed in as an admin: catalog writes need one, and who may call what is
    test_authorization.py's subject; these tests are about what the routes do."""
    client.headers.update(admin.headers)
    return client


def as_decimal(amount: Any) -> Decimal:
    """An amount as the API writes it: text with exactly two places ("19.99"), never a JSON
    number, which most clients would read as a binary float."""
    assert isinstance(amount, str), f"{amount!r} is not text"
    assert re.fullmatch(r"[0-9]+\.[0-9]{2}", amount), amount
    return Decimal(amount)


def assert_validation_error(response: httpx.Response, *, field: str | None = None) -> None:
    """A 422 in FastAPI's documented shape: {"detail": [{"loc", "msg", "type", ...}, ...]}."""
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/json"
    detail = response.json()["detail"]
    assert isinstance(detail, list)
    assert detail
    for problem in detail:
        assert {"loc", "msg", "type"} <= problem.keys()
        assert "input" not in problem
    if field is not None:
        assert any(problem["loc"][-1] == field for problem in detail), detail


def assert_error_detail(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    detail = response.json()["detail"]
    assert isinstance(detail, str)
    assert detail
    return detail


# --- POST /items/ ----------------------------------------------------------------------------


async def test_create_with_only_a_title_gets_defaults_and_a_generated_sku(
    client: httpx.AsyncClient, store: InMemoryStore
) -> None:
    response = await client.post("/items/", json={"title": "Bare item"})

    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == ITEM_FIELDS
    assert SKU_PATTERN.fullmatch(body["sku"])
    assert (body["title"], body["description"], body["quantity"]) == ("Bare item", None, 0)
    assert as_decimal(body["price"]) == 0
    assert snapshot(store) == {body["id"]: (body["sku"], "Bare item", None, Decimal("0.00"), 0)}


async def test_create_stores_and_returns_the_normalised_item(
    client: httpx.AsyncClient, store: InMemoryStore
) -> None:
    payload = item_payload(sku=" ab-api-1 ", price="19.99")

    response = await client.post("/items/", json=payload)

    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == ITEM_FIELDS
    assert body["sku"] == "AB-API-1"
    assert (body["title"], body["description"]) == (payload["title"], payload["description"])
    assert body["quantity"] == payload["quantity"]
    assert as_decimal(body["price"]) == Decimal("19.99")
    assert snapshot(store) == {
        body["id"]: (
            "AB-API-1",
            payload["title"],
            payload["description"],
            Decimal("19.99"),
            payload["quantity"],
        )
    }


async def test_create_accepts_a_factory_payload_and_a_read_sees_it(
    client: httpx.AsyncClient,
) -> None:
    payload = item_payload()

    created = await client.post("/items/", json=payload)
    read = await client.get(f"/items/{created.json()['id']}")

    assert created.status_code == 201, created.text
    assert read.status_code == 200
    assert read.json() == created.json()
    assert read.json()["sku"] == payload["sku"].upper()
    assert as_decimal(read.json()["price"]) == Decimal(str(payload["price"]))


async def test_create_with_a_taken_sku_is_409_and_writes_nothing(
    client: httpx.AsyncClient, store: InMemoryStore
) -> None:
    await seed_one(store, sku="TAKEN-API-1")
    before = snapshot(store)

    response = await client.post("/items/", json=item_payload(sku=" taken-api-1"))

    detail = assert_error_detail(response, 409)
    assert "TAKEN-API-1" in detail
    assert snapshot(store) == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"description": "no title"}, "title"),
        ({"title": ""}, "title"),
        ({"title": "t" * 201}, "title"),
        ({"title": 7}, "title"),
        ({"title": "x", "colour": "red"}, "colour"),
        ({"title": "x", "id": 5}, "id"),
        ({"title": "x", "sku": ""}, "sku"),
        ({"title": "x", "sku": "has space"}, "sku"),
        ({"title": "x", "sku": "-leading"}, "sku"),
        ({"title": "x", "sku": "s" * 65}, "sku"),
        ({"title": "x", "description": "d" * 2001}, "description"),
        ({"title": "x", "price": -1}, "price"),
        ({"title": "x", "price": -0.01}, "price"),
        ({"title": "x", "price": 1.005}, "price"),
        ({"title": "x", "price": "1.005"}, "price"),
        ({"title": "x", "price": str(MAX_PRICE + Decimal("0.01"))}, "price"),
        ({"title": "x", "price": 10**40}, "price"),
        ({"title": "x", "price": "abc"}, "price"),
        ({"title": "x", "price": True}, "price"),
        ({"title": "x", "quantity": -1}, "quantity"),
        ({"title": "x", "quantity": MAX_QUANTITY + 1}, "quantity"),
        ({"title": "x", "quantity": 2**64}, "quantity"),
        ({"title": "x", "quantity": 10**40}, "quantity"),
        ({"title": "x", "quantity": "5"}, "quantity"),
        ({"title": "x", "quantity": 1.5}, "quantity"),
        ({"title": "x", "quantity": True}, "quantity"),
    ],
)
async def test_create_with_an_invalid_body_is_422_and_writes_nothing(
    client: httpx.AsyncClient, store: InMemoryStore, body: dict[str, Any], field: str
) -> None:
    await seed(store, 1)
    before = snapshot(store)

    response = await client.post("/items/", json=body)

    assert_validation_error(response, field=field)
    assert snapshot(store) == before


@pytest.mark.parametrize(
    "raw",
    [
        '{"title":"x","price":Infinity}',
        '{"title":"x","price":-Infinity}',
        '{"title":"x","price":NaN}',
        '{"title":"x","price":1e400}',
        '{"title":"x","quantity":Infinity}',
        '{"title":"x","quantity":1e400}',
    ],
)
async def test_create_with_non_finite_numbers_is_422_and_writes_nothing(
    client: httpx.AsyncClient, store: InMemoryStore, raw: str
) -> None:
    before = snapshot(store)

    response = await client.post("/items/", content=raw, headers=JSON)

    assert_validation_error(response)
    assert snapshot(store) == before


async def test_create_with_malformed_json_is_422_and_writes_nothing(
    client: httpx.AsyncClient, store: InMemoryStore
) -> None:
    response = await client.post("/items/", content='{"title": "x",', headers=JSON)

    assert_validation_error(response)
    assert store.items == {}


async def test_create_with_an_integer_too_long_to_parse_is_a_client_error(
    client: httpx.AsyncClient, store: InMemoryStore
) -> None:
    # Python refuses to parse integers of more than 4300 digits; that must not become a 500.
    raw = '{"title":"x","quantity":' + "9" * 5000 + "}"

    response = await client.post("/items/", content=raw, headers=JSON)

    assert response.status_code in {400, 422}, response.text
    assert "detail" in response.json()
    assert store.items == {}


async def test_validation_errors_never_echo_the_rejected_input(
    client: httpx.AsyncClient,
) -> None:
    marker = "Zq7SECRETx"
    body = {
        "title": marker * 30,
        "sku": f"{marker} !",
        "description": marker * 300,
        "price": f"{marker}-price",
        "quantity": f"{marker}-quantity",
        "extra": marker,
    }

    response = await client.post("/items/", json=body)

    assert_validation_error(response)
    assert marker not in response.text
    assert len(response.json()["detail"]) == len(body)


async def test_blank_title_is_refused_by_the_domain_with_422(
    client: httpx.AsyncClient, store: InMemoryStore
) -> None:
    response = await client.post("/items/", json=item_payload(title="   "))

    assert response.status_code == 422
    assert "detail" in response.json()
    assert store.items == {}


async def test_domain_rule_rejections_use_the_documented_422_body(
    client: httpx.AsyncClient,
) -> None:
    """BUG: a whitespace-only title passes the schema, the domain refuses it, and the error
    handler answers 422 with ``{"detail": "<string>"}``; the OpenAPI document promises every
    422 is an ``HTTPValidationError`` whose ``detail`` is a list."""
    spec = (await client.get("/openapi.json")).json()
    documented = spec["paths"]["/items/"]["post"]["responses"]["422"]
    assert documented["content"]["application/json"]["schema"]["$ref"].endswith(
        "/HTTPValidationError"
    )

    response = await client.post("/items/", json=item_payload(title="   "))

    assert_validation_error(response)


# --- GET /items/ -----------------------------------------------------------------------------


async def test_list_returns_items_in_id_order(
    client: httpx.AsyncClient, store: InMemoryStore
) -> None:
    items = await seed(store, 4)

    response = await client.get("/items/")

    assert response.status_code == 200
    body = response.json()
    assert [row["id"] for row in body] == [item_id(item) for item in items]
    assert all(set(row) == ITEM_FIELDS for row in body)
    assert [row["sku"] for row in body] == [item.sku for item in items]


async def test_list_of_an_empty_catalog_is_an_empty_array(client: httpx.AsyncClient) -> None:
    response = await client.get("/items/")

    assert response.status_code == 200
    assert response.json() == []


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"skip": 1, "limit": 2}, slice(1, 3)),
        ({"limit": 1}, slice(0, 1)),
        ({"skip": 4}, slice(4, None)),
        ({"skip": 5}, slice(5, None)),
        ({"skip": 10**9}, slice(5, None)),
        ({"limit": MAX_PAGE_SIZE}, slice(None)),
    ],
)
async def test_list_pages_with_skip_and_limit(
    client: httpx.AsyncClient, store: InMemoryStore, query: dict[str, int], expected: slice
) -> None:
    ids = [item_id(item) for item in await seed(store, 5)]

    response = await client.get("/items/", params=query)

    assert response.status_code == 200
    assert [row["id"] for row in response.json()] == ids[expected]


async def test_list_defaults_to_one_full_page(
    client: httpx.AsyncClient, store: InMemoryStore
) -> None:
    ids = [item_id(item) for item in await seed(store, MAX_PAGE_SIZE + 1)]

    response = await client.get("/items/")

    assert [row["id"] for row in response.json()] == ids[:MAX_PAGE_SIZE]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"limit": MAX_PAGE_SIZE + 1}, "limit"),
        ({"limit": 0}, "limit"),
        ({"limit": -1}, "limit"),
        ({"skip": -1}, "skip"),
        ({"skip": 10**9 + 1}, "skip"),
        ({"skip": "abc"}, "skip"),
        ({"limit": 2**80}, "limit"),
    ],
)
async def test_list_with_out_of_range_paging_is_422(
    client: httpx.AsyncClient, query: dict[str, Any], field: str
) -> None:
    response = await client.get("/items/", params=query)

    assert_validation_error(response, field=field)


# --- GET /items/{id} -------------------------------------------------------------------------


async def test_read_returns_the_item(client: httpx.AsyncClient, store: InMemoryStore) -> None:
    item = await seed_one(store, description=None)

    response = await client.get(f"/items/{item_id(item)}")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == ITEM_FIELDS
    assert (body["id"], body["sku"], body["title"], body["description"]) == (
        item_id(item),
        item.sku,
        item.title,
        None,
    )
    assert as_decimal(body["price"]) == item.price
    assert body["quantity"] == item.quantity


async def test_read_unknown_item_is_404_with_a_json_detail(
    client: httpx.AsyncClient, store: InMemoryStore
) -> None:
    await seed(store, 2)

    response = await client.get("/items/999")

    assert_error_detail(response, 404)


@pytest.mark.parametrize("raw_id", ["0", "-1", str(2**31), str(2**40), "9" * 5000])
async def test_read_with_an_out_of_range_id_is_422(client: httpx.AsyncClient, raw_id: str) -> None:
    response = await client.get(f"/items/{raw_id}")

    assert_validation_error(response, field="item_id")


@pytest.mark.parametrize("raw_id", ["abc", "1.5", "1e3", "export2"])
async def test_a_segment_that_is_not_a_number_is_no_item_404(
    client: httpx.AsyncClient, raw_id: str
) -> None:
    """Only numbers reach the id routes (entrypoints/api/paths.py), so that /items/export is
    never read as an id: anything else names no resource."""
    response = await client.get(f"/items/{raw_id}")

    assert_error_detail(response, 404)


# --- PUT /items/{id} -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field", "expected"),
    [
        ({"title": " Renamed "}, "title", "Renamed"),
        ({"sku": "new-put-1"}, "sku", "NEW-PUT-1"),
        ({"description": "Now described"}, "description", "Now described"),
        ({"description": None}, "description", None),
        ({"price": 7.5}, "price", Decimal("7.50")),
        ({"price": "0"}, "price", Decimal("0.00")),
        ({"quantity": 0}, "quantity", 0),
    ],
)
async def test_update_changes_only_the_fields_in_the_body(
    client: httpx.AsyncClient,
    store: InMemoryStore,
    body: dict[str, Any],
    field: str,
    expected: object,
) -> None:
    item = await seed_one(store, description="Described", quantity=5)
    other = await seed_one(store)
    before = snapshot(store)

    response = await client.put(f"/items/{item_id(item)}", json=body)

    assert response.status_code == 200, response.text
    returned = response.json()
    assert set(returned) == ITEM_FIELDS
    got = as_decimal(returned[field]) if field == "price" else returned[field]
    assert got == expected
    fields = ["sku", "title", "description", "price", "quantity"]
    row = dict(zip(fields, snapshot(store)[item_id(item)], strict=True))
    old = dict(zip(fields, before[item_id(item)], strict=True))
    assert row == {**old, field: expected}
    assert snapshot(store)[item_id(other)] == before[item_id(other)]


async def test_update_with_an_empty_body_changes_nothing(
    client: httpx.AsyncClient, store: InMemoryStore
) -> None:
    item = await seed_one(store)
    before = snapshot(store)

    response = await client.put(f"/items/{item_id(item)}", json={})

    assert response.status_code == 200
    assert response.json()["sku"] == item.sku
    assert snapshot(store) == before


async def test_update_unknown_item_is_404_and_writes_nothing(
    client: httpx.AsyncClient, store: InMemoryStore
) -> None:
    await seed(store, 2)
    before = snapshot(store)

    response = await client.put("/items/999", json={"title": "Ghost"})

    assert_error_detail(response, 404)
    assert snapshot(store) == before


async def test_update_to_a_taken_sku_is_409_and_writes_nothing(
    client: httpx.AsyncClient, store: InMemoryStore
) -> None:
    await seed_one(store, sku="TAKEN-PUT-1")
    item = await seed_one(store)
    before = snapshot(store)

    response = await client.put(
        f"/items/{item_id(item)}", json={"sku": "taken-put-1", "title": "Renamed"}
    )

    detail = assert_error_detail(response, 409)
    assert "TAKEN-PUT-1" in detail
    assert snapshot(store) == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": None}, "title"),
        ({"sku": None}, "sku"),
        ({"price": None}, "price"),
        ({"quantity": None}, "quantity"),
        ({"title": ""}, "title"),
        ({"price": -1}, "price"),
        ({"price": "2.999"}, "price"),
        ({"quantity": "3"}, "quantity"),
        ({"quantity": -3}, "quantity"),
        ({"id": 1}, "id"),
        # One valid change next to an invalid one: neither may be written.
        ({"title": "Fine", "price": 1.001}, "price"),
        ({"sku": "fine-sku", "quantity": MAX_QUANTITY + 1}, "quantity"),
    ],
)
async def test_update_with_an_invalid_body_is_422_and_writes_nothing(
    client: httpx.AsyncClient, store: InMemoryStore, body: dict[str, Any], field: str
) -> None:
    item = await seed_one(store)
    before = snapshot(store)

    response = await client.put(f"/items/{item_id(item)}", json=body)

    assert_validation_error(response, field=field)
    assert snapshot(store) == before


async def test_update_with_a_blank_title_is_422_and_writes_nothing(
    client: httpx.AsyncClient, store: InMemoryStore
) -> None:
    item = await seed_one(store)
    before = snapshot(store)

    response = await client.put(f"/items/{item_id(item)}", json={"sku": "new-1", "title": "  "})

    assert response.status_code == 422
    assert "detail" in response.json()
    assert snapshot(store) == before


async def test_update_with_non_finite_price_is_422_and_writes_nothing(
    client: httpx.AsyncClient, store: InMemoryStore
) -> None:
    item = await seed_one(store)
    before = snapshot(store)

    response = await client.put(f"/items/{item_id(item)}", content='{"price":NaN}', headers=JSON)

    assert_validation_error(response, field="price")
    assert snapshot(store) == before


async def test_update_with_an_out_of_range_id_is_422(client: httpx.AsyncClient) -> None:
    response = await client.put(f"/items/{2**40}", json={"title": "x"})

    assert_validation_error(response, field="item_id")


# --- DELETE /items/{id} ----------------------------------------------------------------------


async def test_delete_is_204_with_an_empty_body_and_the_item_is_gone(
    client: httpx.AsyncClient, store: InMemoryStore
) -> None:
    doomed, kept = await seed(store, 2)
    before = snapshot(store)

    response = await client.delete(f"/items/{item_id(doomed)}")

    assert response.status_code == 204
    assert response.content == b""
    assert_error_detail(await client.get(f"/items/{item_id(doomed)}"), 404)
    assert snapshot(store) == {item_id(kept): before[item_id(kept)]}


async def test_delete_unknown_item_is_404_and_writes_nothing(
    client: httpx.AsyncClient, store: InMemoryStore
) -> None:
    await seed(store, 2)
    before = snapshot(store)

    response = await client.delete("/items/999")

    assert_error_detail(response, 404)
    assert snapshot(store) == before


async def test_delete_twice_is_404_the_second_time(
    client: httpx.AsyncClient, store: InMemoryStore
) -> None:
    item = await seed_one(store)

    assert (await client.delete(f"/items/{item_id(item)}")).status_code == 204
    assert_error_detail(await client.delete(f"/items/{item_id(item)}"), 404)


@pytest.mark.parametrize("raw_id", ["0", str(2**40)])
async def test_delete_with_an_out_of_range_id_is_422(
    client: httpx.AsyncClient, store: InMemoryStore, raw_id: str
) -> None:
    await seed(store, 1)
    before = snapshot(store)

    response = await client.delete(f"/items/{raw_id}")

    assert_validation_error(response, field="item_id")
    assert snapshot(store) == before


# --- POST /items/{id}/restock ----------------------------------------------------------------


async def test_restock_adds_the_quantity(client: httpx.AsyncClient, store: InMemoryStore) -> None:
    item = await seed_one(store, quantity=4)

    response = await client.post(f"/items/{item_id(item)}/restock", json={"quantity": 6})

    assert response.status_code == 200, response.text
    assert set(response.json()) == ITEM_FIELDS
    assert response.json()["quantity"] == 10
    assert store.items[item_id(item)].quantity == 10
    assert (await client.get(f"/items/{item_id(item)}")).json()["quantity"] == 10


@pytest.mark.parametrize(
    "body",
    [
        {"quantity": 0},
        {"quantity": -1},
        {"quantity": "5"},
        {"quantity": 1.5},
        {"quantity": True},
        {"quantity": None},
        {"quantity": MAX_QUANTITY + 1},
        {},
        {"quantity": 1, "note": "extra"},
    ],
)
async def test_restock_with_an_invalid_body_is_422_and_writes_nothing(
    client: httpx.AsyncClient, store: InMemoryStore, body: dict[str, Any]
) -> None:
    item = await seed_one(store, quantity=4)
    before = snapshot(store)

    response = await client.post(f"/items/{item_id(item)}/restock", json=body)

    assert_validation_error(response)
    assert snapshot(store) == before


async def test_restock_past_the_maximum_stock_is_409_and_writes_nothing(
    client: httpx.AsyncClient, store: InMemoryStore
) -> None:
    """A valid quantity the item's current stock cannot take: a conflict with the item's
    state (as OutOfStock is), not a malformed request, which is what a 422 would claim."""
    item = await seed_one(store, quantity=MAX_QUANTITY - 1)
    before = snapshot(store)

    response = await client.post(f"/items/{item_id(item)}/restock", json={"quantity": 2})

    assert_error_detail(response, 409)
    assert snapshot(store) == before


async def test_restock_unknown_item_is_404_and_writes_nothing(
    client: httpx.AsyncClient, store: InMemoryStore
) -> None:
    await seed(store, 1)
    before = snapshot(store)

    response = await client.post("/items/999/restock", json={"quantity": 5})

    assert_error_detail(response, 404)
    assert snapshot(store) == before


# --- documentation ---------------------------------------------------------------------------


async def test_docs_page_is_served(client: httpx.AsyncClient) -> None:
    response = await client.get("/docs")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")


async def test_openapi_lists_every_item_route(client: httpx.AsyncClient) -> None:
    response = await client.get("/openapi.json")

    assert response.status_code == 200
    paths = response.json()["paths"]
    routes = {(path, method) for path, operations in paths.items() for method in operations}
    assert {
        ("/items/", "get"),
        ("/items/", "post"),
        ("/items/{item_id}", "get"),
        ("/items/{item_id}", "put"),
        ("/items/{item_id}", "delete"),
        ("/items/{item_id}/restock", "post"),
    } <= routes
