"""``/orders`` end to end over ASGI, with the container's unit of work swapped for the fake.

Every failed write is checked against the whole store (items, orders, idempotency keys): a
request that is refused must leave nothing behind. Who may call which route is decided in
test_authorization.py; these tests are about what the routes do for callers who may.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from dependency_injector import providers

from domain.order import MAX_LINE_QUANTITY, MAX_LINES
from entrypoints.container import Container
from service_layer.services.orders import MAX_PAGE_SIZE
from tests.api_support import Account, make_account
from tests.fakes import InMemoryStore
from tests.unit.order_support import ConflictingCommits, shelf, state, stock
from tests.unit.support import item_id, seed

ORDER_FIELDS = {"id", "customer_id", "status", "lines", "total", "currency"} | {
    "created_at",
    "updated_at",
}
LINE_FIELDS = {"item_id", "sku", "quantity", "unit_price", "total"}
JSON = {"content-type": "application/json"}


@pytest.fixture
async def alice(container: Container) -> Account:
    return await make_account(container, admin=False)


@pytest.fixture
async def bob(container: Container) -> Account:
    return await make_account(container, admin=False)


def order_body(*wanted: tuple[str, Any]) -> dict[str, Any]:
    return {"lines": [{"sku": sku, "quantity": quantity} for sku, quantity in wanted]}


async def buy(
    client: httpx.AsyncClient, who: Account, *wanted: tuple[str, Any], key: str | None = None
) -> httpx.Response:
    headers = who.headers if key is None else {**who.headers, "Idempotency-Key": key}
    return await client.post("/orders/", json=order_body(*wanted), headers=headers)


async def bought(
    client: httpx.AsyncClient, who: Account, *wanted: tuple[str, Any], key: str | None = None
) -> dict[str, Any]:
    response = await buy(client, who, *wanted, key=key)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def as_decimal(amount: Any) -> Decimal:
    """An amount as the API writes it: text with exactly two places ("40.28"), never a JSON
    number, which most clients would read as a binary float."""
    assert isinstance(amount, str), f"{amount!r} is not text"
    assert re.fullmatch(r"[0-9]+\.[0-9]{2}", amount), amount
    return Decimal(amount)


def assert_validation_error(response: httpx.Response, *, field: str | int | None = None) -> None:
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
    body = response.json()
    assert set(body) == {"detail"}
    assert isinstance(body["detail"], str)
    assert body["detail"]
    detail: str = body["detail"]
    return detail


def assert_order_shape(body: dict[str, Any]) -> None:
    assert set(body) == ORDER_FIELDS
    assert body["status"] in {"placed", "shipped", "cancelled"}
    for line in body["lines"]:
        assert set(line) == LINE_FIELDS
        as_decimal(line["unit_price"])
        as_decimal(line["total"])
    as_decimal(body["total"])
    for stamp in ("created_at", "updated_at"):
        assert datetime.fromisoformat(body[stamp]).tzinfo is not None


# --- POST /orders/ ---------------------------------------------------------------------------


async def test_place_order_is_201_with_the_order_and_takes_the_stock(
    client: httpx.AsyncClient, store: InMemoryStore, alice: Account
) -> None:
    apple, pear = await shelf(store, ("APPLE", 5, "0.10"), ("PEAR", 4, "19.99"))

    response = await buy(client, alice, ("pear", 2), ("apple", 3))

    assert response.status_code == 201, response.text
    body = response.json()
    assert_order_shape(body)
    assert (body["customer_id"], body["status"]) == (alice.id, "placed")
    assert [
        (line["item_id"], line["sku"], line["quantity"], as_decimal(line["unit_price"]))
        for line in body["lines"]
    ] == [
        (item_id(apple), "APPLE", 3, Decimal("0.1")),
        (item_id(pear), "PEAR", 2, Decimal("19.99")),
    ]
    assert [as_decimal(line["total"]) for line in body["lines"]] == [
        Decimal("0.3"),
        Decimal("39.98"),
    ]
    assert as_decimal(body["total"]) == Decimal("40.28")
    created, updated = (datetime.fromisoformat(body[key]) for key in ("created_at", "updated_at"))
    assert updated >= created
    assert stock(store) == {"APPLE": 2, "PEAR": 2}
    assert list(store.orders) == [body["id"]]


async def test_repeated_and_unnormalised_skus_become_one_line(
    client: httpx.AsyncClient, store: InMemoryStore, alice: Account
) -> None:
    await shelf(store, ("APPLE", 5, "1"))

    body = await bought(client, alice, ("apple", 1), (" APPLE ", 2))

    assert [(line["sku"], line["quantity"]) for line in body["lines"]] == [("APPLE", 3)]
    assert stock(store) == {"APPLE": 2}


async def test_out_of_stock_is_409_naming_the_short_skus_and_takes_nothing(
    client: httpx.AsyncClient, store: InMemoryStore, alice: Account
) -> None:
    await shelf(store, ("A-1", 5, "1"), ("B-1", 1, "1"), ("C-1", 0, "1"))
    before = state(store)

    response = await buy(client, alice, ("c-1", 1), ("A-1", 5), ("B-1", 2))

    assert response.status_code == 409, response.text
    body = response.json()
    assert set(body) == {"detail", "skus"}
    assert isinstance(body["detail"], str)
    assert "B-1" in body["detail"]
    assert body["skus"] == ["B-1", "C-1"]
    assert state(store) == before


async def test_the_last_unit_sells_once(
    client: httpx.AsyncClient, store: InMemoryStore, alice: Account, bob: Account
) -> None:
    await shelf(store, ("LAST-1", 1, "1"))

    assert (await buy(client, alice, ("LAST-1", 1))).status_code == 201
    before = state(store)
    response = await buy(client, bob, ("LAST-1", 1))

    assert response.status_code == 409
    assert response.json()["skus"] == ["LAST-1"]
    assert state(store) == before


async def test_unknown_sku_is_422_naming_it_and_takes_nothing(
    client: httpx.AsyncClient, store: InMemoryStore, alice: Account
) -> None:
    await shelf(store, ("A-1", 0, "1"))
    before = state(store)

    response = await buy(client, alice, ("A-1", 1), ("ghost-1", 1))

    assert_validation_error(response, field="lines")
    (problem,) = response.json()["detail"]
    assert problem["loc"] == ["body", "lines"]
    assert "GHOST-1" in problem["msg"]
    assert "A-1" not in problem["msg"]
    assert state(store) == before


def _lines(count: int) -> dict[str, Any]:
    return {"lines": [{"sku": f"L-{n:03d}", "quantity": 1} for n in range(count)]}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "lines"),
        ({"lines": []}, "lines"),
        ({"lines": None}, "lines"),
        ({"lines": "A-1"}, "lines"),
        ({"lines": {"sku": "A-1", "quantity": 1}}, "lines"),
        (_lines(MAX_LINES + 1), "lines"),
        ({**order_body(("A-1", 1)), "customer_id": 2}, "customer_id"),
        ({"lines": [{"sku": "A-1", "quantity": 1, "unit_price": 0}]}, "unit_price"),
        ({"lines": [{"sku": "A-1"}]}, "quantity"),
        ({"lines": [{"quantity": 1}]}, "sku"),
        (order_body(("A-1", 0)), "quantity"),
        (order_body(("A-1", -1)), "quantity"),
        (order_body(("A-1", MAX_LINE_QUANTITY + 1)), "quantity"),
        (order_body(("A-1", "2")), "quantity"),
        (order_body(("A-1", 1.5)), "quantity"),
        (order_body(("A-1", True)), "quantity"),
        (order_body(("A-1", None)), "quantity"),
        (order_body(("A-1", 2**64)), "quantity"),
        (order_body(("A-1", 10**40)), "quantity"),
        (order_body(("", 1)), "sku"),
        (order_body(("has space", 1)), "sku"),
        (order_body(("-lead", 1)), "sku"),
        (order_body(("s" * 65, 1)), "sku"),
        (order_body((7, 1)), "sku"),
    ],
)
async def test_an_invalid_body_is_422_and_writes_nothing(
    client: httpx.AsyncClient,
    store: InMemoryStore,
    alice: Account,
    body: dict[str, Any],
    field: str,
) -> None:
    await shelf(store, ("A-1", 5, "1"))
    before = state(store)

    response = await client.post("/orders/", json=body, headers=alice.headers)

    assert_validation_error(response, field=field)
    assert state(store) == before


async def test_a_line_quantity_with_a_zero_fraction_is_that_whole_number(
    client: httpx.AsyncClient, store: InMemoryStore, alice: Account
) -> None:
    """2.0 is an integer by JSON Schema's definition (the published schema says "integer"),
    so a client that trusts the schema is not refused for sending it; 1.5 still is."""
    await shelf(store, ("A-1", 5, "1"))

    response = await client.post("/orders/", json=order_body(("A-1", 2.0)), headers=alice.headers)

    assert response.status_code == 201, response.text
    assert response.json()["lines"][0]["quantity"] == 2


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "null",
        "[]",
        '{"lines": [{"sku": "A-1", "quantity": 1}]',
        '{"lines": [{"sku": "A-1", "quantity": Infinity}]}',
        '{"lines": [{"sku": "A-1", "quantity": 1e400}]}',
        '{"lines": [{"sku": "A-1", "quantity": ' + "9" * 5000 + "}]}",
    ],
)
async def test_a_malformed_body_is_a_client_error_and_writes_nothing(
    client: httpx.AsyncClient, store: InMemoryStore, alice: Account, raw: str
) -> None:
    await shelf(store, ("A-1", 5, "1"))
    before = state(store)

    response = await client.post("/orders/", content=raw, headers={**alice.headers, **JSON})

    assert response.status_code in {400, 422}, response.text
    assert "detail" in response.json()
    assert state(store) == before


async def test_an_oversized_body_is_413_and_writes_nothing(
    client: httpx.AsyncClient, store: InMemoryStore, alice: Account
) -> None:
    await shelf(store, ("A-1", 5, "1"))
    before = state(store)
    padded = '{"lines": [{"sku": "A-1", "quantity": 1}]' + " " * 100_000 + "}"

    response = await client.post("/orders/", content=padded, headers={**alice.headers, **JSON})

    assert response.status_code == 413, response.text
    assert state(store) == before


async def test_merged_lines_over_the_line_maximum_are_422_and_write_nothing(
    client: httpx.AsyncClient, store: InMemoryStore, alice: Account
) -> None:
    await shelf(store, ("A-1", MAX_LINE_QUANTITY * 2, "1"))
    before = state(store)
    half = MAX_LINE_QUANTITY // 2 + 1

    response = await buy(client, alice, ("A-1", half), ("a-1", half))

    assert_validation_error(response, field="lines")
    assert state(store) == before


async def test_an_order_may_have_the_maximum_number_of_lines(
    client: httpx.AsyncClient, store: InMemoryStore, alice: Account
) -> None:
    items = await seed(store, MAX_LINES, quantity=1)

    body = await bought(client, alice, *[(item.sku, 1) for item in items])

    assert len(body["lines"]) == MAX_LINES
    assert set(stock(store).values()) == {0}


async def test_a_line_total_above_the_unit_price_limit_is_served(
    client: httpx.AsyncClient, store: InMemoryStore, alice: Account
) -> None:
    """A line total is not bound by the limit on one price: any price up to that limit times
    a quantity up to the line maximum is a legal purchase, so its response must be served
    (regression: the total was once validated as a ``Price``, a 500 after the commit)."""
    await shelf(store, ("YACHT-1", 3, "60000000.00"))

    response = await buy(client, alice, ("YACHT-1", 2))

    assert response.status_code == 201, response.text
    body = response.json()
    assert as_decimal(body["lines"][0]["total"]) == Decimal("120000000")
    assert as_decimal(body["total"]) == Decimal("120000000")
    assert (await client.get(f"/orders/{body['id']}", headers=alice.headers)).status_code == 200


@pytest.mark.parametrize(("conflicts", "expected"), [(1, 201), (10**6, 503)])
async def test_a_purchase_that_keeps_conflicting_is_503_with_retry_after_and_writes_nothing(
    client: httpx.AsyncClient,
    container: Container,
    store: InMemoryStore,
    alice: Account,
    conflicts: int,
    expected: int,
) -> None:
    """One conflict is retried away unseen; a conflict that outlasts every retry tells the
    client to come back (503 + Retry-After), never a 500, and leaves nothing behind."""
    await shelf(store, ("A-1", 5, "1"))
    before = state(store)
    unit = ConflictingCommits(store, conflicts=conflicts)

    with container.uow.override(providers.Object(unit)):
        response = await buy(client, alice, ("A-1", 2))

    assert response.status_code == expected, response.text
    if expected == 503:
        assert response.headers["retry-after"].isdigit()
        assert isinstance(response.json()["detail"], str)
        assert state(store) == before
    else:
        assert stock(store) == {"A-1": 3}
        assert list(store.orders) == [response.json()["id"]]


# --- Idempotency-Key -------------------------------------------------------------------------


async def test_a_replay_with_the_same_key_is_201_with_the_same_order_and_takes_nothing(
    client: httpx.AsyncClient, store: InMemoryStore, alice: Account
) -> None:
    await shelf(store, ("A-1", 5, "1"))
    first = await bought(client, alice, ("A-1", 2), key="pay-1")
    before = state(store)

    replay = await buy(client, alice, ("A-1", 2), key="pay-1")

    assert replay.status_code == 201, replay.text
    assert replay.json() == first
    assert state(store) == before
    assert stock(store) == {"A-1": 3}


async def test_an_equivalent_body_with_the_same_key_is_the_same_request(
    client: httpx.AsyncClient, store: InMemoryStore, alice: Account
) -> None:
    await shelf(store, ("A-1", 5, "1"), ("B-1", 5, "1"))
    first = await bought(client, alice, ("A-1", 2), ("B-1", 1), key="pay-eq")
    before = state(store)

    replay = await buy(client, alice, ("b-1", 1), ("a-1", 1), ("A-1", 1), key="pay-eq")

    assert replay.status_code == 201, replay.text
    assert replay.json()["id"] == first["id"]
    assert state(store) == before


async def test_the_same_key_with_a_different_body_is_422_and_writes_nothing(
    client: httpx.AsyncClient, store: InMemoryStore, alice: Account
) -> None:
    await shelf(store, ("A-1", 5, "1"))
    await bought(client, alice, ("A-1", 2), key="pay-2")
    before = state(store)

    response = await buy(client, alice, ("A-1", 3), key="pay-2")

    assert_validation_error(response)
    assert "Idempotency-Key" in response.text
    assert state(store) == before


async def test_another_customer_with_the_same_key_places_their_own_order(
    client: httpx.AsyncClient, store: InMemoryStore, alice: Account, bob: Account
) -> None:
    await shelf(store, ("A-1", 5, "1"))
    hers = await bought(client, alice, ("A-1", 2), key="shared")

    his = await bought(client, bob, ("A-1", 2), key="shared")

    assert his["id"] != hers["id"]
    assert his["customer_id"] == bob.id
    assert stock(store) == {"A-1": 1}


async def test_an_over_long_key_is_422_and_writes_nothing(
    client: httpx.AsyncClient, store: InMemoryStore, alice: Account
) -> None:
    await shelf(store, ("A-1", 5, "1"))
    before = state(store)

    response = await buy(client, alice, ("A-1", 1), key="k" * 256)

    assert_validation_error(response, field="idempotency-key")
    assert response.json()["detail"][0]["loc"] == ["header", "idempotency-key"]
    assert state(store) == before


async def test_a_key_of_the_maximum_length_is_accepted(
    client: httpx.AsyncClient, store: InMemoryStore, alice: Account
) -> None:
    await shelf(store, ("A-1", 5, "1"))

    first = await bought(client, alice, ("A-1", 1), key="k" * 255)
    again = await bought(client, alice, ("A-1", 1), key="k" * 255)

    assert again["id"] == first["id"]
    assert stock(store) == {"A-1": 4}


@pytest.mark.parametrize("key", ["", "tab\there", "has space"])
async def test_an_empty_or_unprintable_key_is_422_naming_the_header_and_writes_nothing(
    client: httpx.AsyncClient, store: InMemoryStore, alice: Account, key: str
) -> None:
    """One header, one location: the 422 points at the header whichever rule refused it
    (regression: the domain's refusal once said ``["body", "key"]``)."""
    await shelf(store, ("A-1", 5, "1"))
    before = state(store)

    response = await buy(client, alice, ("A-1", 1), key=key)

    assert_validation_error(response)
    assert state(store) == before
    assert [problem["loc"] for problem in response.json()["detail"]] == [
        ["header", "idempotency-key"]
    ]


# --- GET /orders/ ----------------------------------------------------------------------------


async def test_a_customer_lists_only_their_own_orders_newest_first(
    client: httpx.AsyncClient, store: InMemoryStore, alice: Account, bob: Account
) -> None:
    await shelf(store, ("A-1", 50, "1"))
    placed = [await bought(client, who, ("A-1", 1)) for who in (alice, bob, alice, bob, alice)]

    hers = await client.get("/orders/", headers=alice.headers)
    his = await client.get("/orders/", headers=bob.headers)

    assert hers.status_code == 200
    assert hers.json() == [placed[4], placed[2], placed[0]]
    assert [order["id"] for order in his.json()] == [placed[3]["id"], placed[1]["id"]]


async def test_an_admin_lists_everyones_orders_newest_first(
    client: httpx.AsyncClient, store: InMemoryStore, alice: Account, bob: Account, admin: Account
) -> None:
    await shelf(store, ("A-1", 50, "1"))
    placed = [await bought(client, who, ("A-1", 1)) for who in (alice, bob, alice)]

    response = await client.get("/orders/", headers=admin.headers)

    assert response.status_code == 200
    assert response.json() == list(reversed(placed))


async def test_a_customer_without_orders_gets_an_empty_array(
    client: httpx.AsyncClient, store: InMemoryStore, alice: Account, bob: Account
) -> None:
    await shelf(store, ("A-1", 50, "1"))
    await bought(client, alice, ("A-1", 1))

    response = await client.get("/orders/", headers=bob.headers)

    assert response.status_code == 200
    assert response.json() == []


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"skip": 1, "limit": 2}, slice(1, 3)),
        ({"limit": 1}, slice(0, 1)),
        ({"skip": 3}, slice(3, None)),
        ({"skip": 4}, slice(4, None)),
        ({"skip": 10**9}, slice(4, None)),
        ({"limit": MAX_PAGE_SIZE}, slice(None)),
    ],
)
async def test_list_pages_with_skip_and_limit(
    client: httpx.AsyncClient,
    store: InMemoryStore,
    alice: Account,
    query: dict[str, int],
    expected: slice,
) -> None:
    await shelf(store, ("A-1", 50, "1"))
    newest_first = [(await bought(client, alice, ("A-1", 1)))["id"] for _ in range(4)][::-1]

    response = await client.get("/orders/", params=query, headers=alice.headers)

    assert response.status_code == 200
    assert [order["id"] for order in response.json()] == newest_first[expected]


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
    client: httpx.AsyncClient, alice: Account, query: dict[str, Any], field: str
) -> None:
    response = await client.get("/orders/", params=query, headers=alice.headers)

    assert_validation_error(response, field=field)


# --- GET /orders/{id} ------------------------------------------------------------------------


async def test_the_owner_reads_the_order_as_it_was_placed(
    client: httpx.AsyncClient, store: InMemoryStore, alice: Account
) -> None:
    await shelf(store, ("A-1", 5, "1.25"))
    placed = await bought(client, alice, ("A-1", 2))

    response = await client.get(f"/orders/{placed['id']}", headers=alice.headers)

    assert response.status_code == 200
    assert response.json() == placed


async def test_another_customers_order_is_404_like_an_unknown_one(
    client: httpx.AsyncClient, store: InMemoryStore, alice: Account, bob: Account
) -> None:
    await shelf(store, ("A-1", 5, "1"))
    hers = await bought(client, alice, ("A-1", 2))
    unknown_id = hers["id"] + 1000

    response = await client.get(f"/orders/{hers['id']}", headers=bob.headers)
    unknown = await client.get(f"/orders/{unknown_id}", headers=bob.headers)

    detail = assert_error_detail(response, 404)
    assert detail == assert_error_detail(unknown, 404).replace(str(unknown_id), str(hers["id"]))


async def test_an_admin_reads_anyones_order(
    client: httpx.AsyncClient, store: InMemoryStore, alice: Account, admin: Account
) -> None:
    await shelf(store, ("A-1", 5, "1"))
    hers = await bought(client, alice, ("A-1", 2))

    response = await client.get(f"/orders/{hers['id']}", headers=admin.headers)

    assert response.status_code == 200
    assert response.json() == hers


async def test_an_unknown_order_is_404(client: httpx.AsyncClient, admin: Account) -> None:
    response = await client.get("/orders/999", headers=admin.headers)

    assert assert_error_detail(response, 404) == "order 999 does not exist"


@pytest.mark.parametrize("raw_id", ["0", "-1", str(2**31), str(2**63)])
async def test_reading_an_out_of_range_id_is_422(
    client: httpx.AsyncClient, alice: Account, raw_id: str
) -> None:
    response = await client.get(f"/orders/{raw_id}", headers=alice.headers)

    assert_validation_error(response, field="order_id")


@pytest.mark.parametrize("raw_id", ["abc", "1.5"])
async def test_a_segment_that_is_not_a_number_is_no_order_404(
    client: httpx.AsyncClient, alice: Account, raw_id: str
) -> None:
    response = await client.get(f"/orders/{raw_id}", headers=alice.headers)

    assert response.status_code == 404, response.text


async def test_an_order_shows_the_price_it_was_bought_at_after_a_reprice(
    client: httpx.AsyncClient, store: InMemoryStore, alice: Account, admin: Account
) -> None:
    (item,) = await shelf(store, ("A-1", 5, "2.00"))
    placed = await bought(client, alice, ("A-1", 2))

    repriced = await client.put(
        f"/items/{item_id(item)}", json={"price": 9.99}, headers=admin.headers
    )
    read = await client.get(f"/orders/{placed['id']}", headers=alice.headers)

    assert repriced.status_code == 200
    assert as_decimal(read.json()["lines"][0]["unit_price"]) == Decimal("2")
    assert as_decimal(read.json()["total"]) == Decimal("4")


# --- POST /orders/{id}/cancel ----------------------------------------------------------------


async def test_the_owner_cancels_with_200_and_the_stock_goes_back(
    client: httpx.AsyncClient, store: InMemoryStore, alice: Account
) -> None:
    await shelf(store, ("A-1", 5, "1"), ("B-1", 5, "1"))
    placed = await bought(client, alice, ("A-1", 2), ("B-1", 5))

    response = await client.post(f"/orders/{placed['id']}/cancel", headers=alice.headers)

    assert response.status_code == 200, response.text
    body = response.json()
    assert_order_shape(body)
    assert body["status"] == "cancelled"
    assert (body["id"], body["lines"], body["total"]) == (
        placed["id"],
        placed["lines"],
        placed["total"],
    )
    assert stock(store) == {"A-1": 5, "B-1": 5}
    read = await client.get(f"/orders/{placed['id']}", headers=alice.headers)
    assert read.json() == body


async def test_an_admin_cancels_anyones_order_with_200(
    client: httpx.AsyncClient, store: InMemoryStore, alice: Account, admin: Account
) -> None:
    await shelf(store, ("A-1", 5, "1"))
    hers = await bought(client, alice, ("A-1", 3))

    response = await client.post(f"/orders/{hers['id']}/cancel", headers=admin.headers)

    assert response.status_code == 200, response.text
    assert (response.json()["status"], response.json()["customer_id"]) == ("cancelled", alice.id)
    assert stock(store) == {"A-1": 5}


async def test_another_customers_cancel_is_404_and_writes_nothing(
    client: httpx.AsyncClient, store: InMemoryStore, alice: Account, bob: Account
) -> None:
    await shelf(store, ("A-1", 5, "1"))
    hers = await bought(client, alice, ("A-1", 3))
    before = state(store)

    response = await client.post(f"/orders/{hers['id']}/cancel", headers=bob.headers)

    assert_error_detail(response, 404)
    assert state(store) == before


@pytest.mark.parametrize("first", ["cancel", "ship"])
async def test_cancelling_an_order_that_is_not_placed_is_409_and_writes_nothing(
    client: httpx.AsyncClient, store: InMemoryStore, alice: Account, admin: Account, first: str
) -> None:
    await shelf(store, ("A-1", 5, "1"))
    placed = await bought(client, alice, ("A-1", 3))
    done = await client.post(f"/orders/{placed['id']}/{first}", headers=admin.headers)
    assert done.status_code == 200, done.text
    before = state(store)

    response = await client.post(f"/orders/{placed['id']}/cancel", headers=alice.headers)

    detail = assert_error_detail(response, 409)
    assert detail == f"cannot cancel an order that is {done.json()['status']}"
    assert state(store) == before


async def test_cancelling_an_unknown_order_is_404(
    client: httpx.AsyncClient, store: InMemoryStore, admin: Account
) -> None:
    before = state(store)

    response = await client.post("/orders/999/cancel", headers=admin.headers)

    assert_error_detail(response, 404)
    assert state(store) == before


@pytest.mark.parametrize("raw_id", ["0", str(2**31)])
async def test_cancelling_an_out_of_range_id_is_422(
    client: httpx.AsyncClient, alice: Account, raw_id: str
) -> None:
    response = await client.post(f"/orders/{raw_id}/cancel", headers=alice.headers)

    assert_validation_error(response, field="order_id")


# --- POST /orders/{id}/ship ------------------------------------------------------------------


async def test_an_admin_ships_with_200_and_the_stock_stays_taken(
    client: httpx.AsyncClient, store: InMemoryStore, alice: Account, admin: Account
) -> None:
    await shelf(store, ("A-1", 5, "1"))
    placed = await bought(client, alice, ("A-1", 2))

    response = await client.post(f"/orders/{placed['id']}/ship", headers=admin.headers)

    assert response.status_code == 200, response.text
    body = response.json()
    assert_order_shape(body)
    assert (body["id"], body["status"], body["customer_id"]) == (placed["id"], "shipped", alice.id)
    assert stock(store) == {"A-1": 3}
    read = await client.get(f"/orders/{placed['id']}", headers=alice.headers)
    assert read.json()["status"] == "shipped"


@pytest.mark.parametrize("first", ["cancel", "ship"])
async def test_shipping_an_order_that_is_not_placed_is_409_and_writes_nothing(
    client: httpx.AsyncClient, store: InMemoryStore, alice: Account, admin: Account, first: str
) -> None:
    await shelf(store, ("A-1", 5, "1"))
    placed = await bought(client, alice, ("A-1", 2))
    done = await client.post(f"/orders/{placed['id']}/{first}", headers=admin.headers)
    assert done.status_code == 200, done.text
    before = state(store)

    response = await client.post(f"/orders/{placed['id']}/ship", headers=admin.headers)

    detail = assert_error_detail(response, 409)
    assert detail == f"cannot ship an order that is {done.json()['status']}"
    assert state(store) == before


async def test_shipping_an_unknown_order_is_404(
    client: httpx.AsyncClient, store: InMemoryStore, admin: Account
) -> None:
    before = state(store)

    response = await client.post("/orders/999/ship", headers=admin.headers)

    assert_error_detail(response, 404)
    assert state(store) == before


async def test_a_customer_cannot_ship_even_their_own_order(
    client: httpx.AsyncClient, store: InMemoryStore, alice: Account
) -> None:
    await shelf(store, ("A-1", 5, "1"))
    placed = await bought(client, alice, ("A-1", 2))
    before = state(store)

    response = await client.post(f"/orders/{placed['id']}/ship", headers=alice.headers)

    assert assert_error_detail(response, 403) == "admins only"
    assert state(store) == before


# --- DELETE /items/{id} and orders -----------------------------------------------------------


async def test_deleting_an_item_that_was_ordered_is_409_and_writes_nothing(
    client: httpx.AsyncClient, store: InMemoryStore, alice: Account, admin: Account
) -> None:
    ordered, spare = await shelf(store, ("A-1", 5, "1"), ("B-1", 5, "1"))
    placed = await bought(client, alice, ("A-1", 1))
    await client.post(f"/orders/{placed['id']}/cancel", headers=alice.headers)
    before = state(store)

    response = await client.delete(f"/items/{item_id(ordered)}", headers=admin.headers)

    detail = assert_error_detail(response, 409)
    assert str(item_id(ordered)) in detail
    assert state(store) == before
    spared = await client.delete(f"/items/{item_id(spare)}", headers=admin.headers)
    assert spared.status_code == 204
    assert set(store.items) == {item_id(ordered)}


# --- the published contract ------------------------------------------------------------------


async def test_openapi_documents_the_order_routes_and_their_errors(
    client: httpx.AsyncClient,
) -> None:
    spec = (await client.get("/openapi.json")).json()
    paths = spec["paths"]

    assert set(paths["/orders/"]) == {"get", "post"}
    assert {"201", "409", "422"} <= set(paths["/orders/"]["post"]["responses"])
    headers = [p["name"] for p in paths["/orders/"]["post"]["parameters"] if p["in"] == "header"]
    assert headers == ["idempotency-key"]
    assert {"200", "404"} <= set(paths["/orders/{order_id}"]["get"]["responses"])
    for action in ("cancel", "ship"):
        responses = paths[f"/orders/{{order_id}}/{action}"]["post"]["responses"]
        assert {"200", "404", "409"} <= set(responses)
