"""Keyset pages of ``GET /items/`` and ``GET /orders/`` over ASGI, on the fake store: the
``Link: <...>; rel="next"`` walk, ``?count=true``, and the cursors the API refuses."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI

from entrypoints.api.pages import Listing, decode_cursor, encode_cursor
from entrypoints.container import Container
from service_layer.services import items as item_services
from tests.api_support import Account, make_account
from tests.fakes import InMemoryReads, InMemoryStore
from tests.unit.order_support import shelf
from tests.unit.support import item_id, seed


def next_url(response: httpx.Response) -> str | None:
    """The rel="next" target of the answer's Link header, as RFC 8288 writes it."""
    link = response.headers.get("link")
    if link is None:
        return None
    target, relation = link.split(";")
    assert relation.strip() == 'rel="next"', link
    assert target.startswith("<"), link
    assert target.endswith(">"), link
    return target[1:-1]


async def walk(
    client: httpx.AsyncClient, url: str, headers: dict[str, str] | None = None
) -> list[list[int]]:
    """The ids of each page, following rel="next" from ``url`` to the last page."""
    pages: list[list[int]] = []
    following: str | None = url
    while following is not None:
        response = await client.get(following, headers=headers)
        assert response.status_code == 200, response.text
        pages.append([row["id"] for row in response.json()])
        following = next_url(response)
        assert len(pages) < 100, "the walk does not end"
    return pages


def query_of(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


# --- items: the walk ----------------------------------------------------------------------------


async def test_following_next_visits_every_item_once_in_id_order(
    client: httpx.AsyncClient, store: InMemoryStore
) -> None:
    ids = [item_id(item) for item in await seed(store, 25)]

    pages = await walk(client, "/items/?limit=10")

    assert [len(page) for page in pages] == [10, 10, 5]
    assert [found for page in pages for found in page] == ids


async def test_a_full_last_page_has_no_next_link(
    client: httpx.AsyncClient, store: InMemoryStore
) -> None:
    await seed(store, 10)

    pages = await walk(client, "/items/?limit=5")

    assert [len(page) for page in pages] == [5, 5]  # no third, empty page to ask for


async def test_a_walk_sees_each_item_that_existed_when_it_began_exactly_once(
    client: httpx.AsyncClient, store: InMemoryStore
) -> None:
    before = [item_id(item) for item in await seed(store, 12)]
    seen: list[int] = []
    following: str | None = "/items/?limit=5"
    while following is not None:
        response = await client.get(following)
        seen += [row["id"] for row in response.json()]
        following = next_url(response)
        await seed(store, 3)  # another client adds items between our pages

    assert [found for found in seen if found in before] == before
    assert len(seen) == len(set(seen))


async def test_the_next_link_keeps_the_request_and_replaces_skip_with_a_cursor(
    client: httpx.AsyncClient, store: InMemoryStore
) -> None:
    await seed(store, 6, title="Blue mug")

    response = await client.get(
        "/items/", params={"q": "mug", "limit": 2, "skip": 1, "count": "true"}
    )

    url = next_url(response)
    assert url is not None
    assert url.startswith("http://test/items/?")
    query = query_of(url)
    assert "skip" not in query
    assert {name: values for name, values in query.items() if name != "cursor"} == {
        "q": ["mug"],
        "limit": ["2"],
        "count": ["true"],
    }
    # The skipped item and the page's two are behind; the cursor starts after the last one.
    after = await client.get(url)
    assert [row["id"] for row in after.json()] == [4, 5]


async def test_skip_and_limit_still_page_by_offset(
    client: httpx.AsyncClient, store: InMemoryStore
) -> None:
    ids = [item_id(item) for item in await seed(store, 6)]

    response = await client.get("/items/", params={"skip": 2, "limit": 3})

    assert [row["id"] for row in response.json()] == ids[2:5]
    assert next_url(response) is not None


async def test_count_true_gives_the_total_of_what_the_filters_match(
    client: httpx.AsyncClient, store: InMemoryStore
) -> None:
    await seed(store, 7, quantity=0)
    await seed(store, 4, quantity=3)

    counted = await client.get("/items/", params={"in_stock": "false", "limit": 2, "count": True})
    plain = await client.get("/items/", params={"in_stock": "false", "limit": 2})

    assert counted.headers["x-total-count"] == "7"
    assert len(counted.json()) == 2
    assert "x-total-count" not in plain.headers


async def test_the_service_reads_one_row_more_to_know_a_next_page_exists(
    store: InMemoryStore,
) -> None:
    ids = [item_id(item) for item in await seed(store, 5)]
    reads = InMemoryReads(store)

    full = await item_services.list_items(reads, limit=5)
    short = await item_services.list_items(reads, limit=4, count=True)
    rest = await item_services.list_items(reads, limit=4, after_id=short.rows[-1].id)

    assert ([view.id for view in full.rows], full.more, full.total) == (ids, False, None)
    assert ([view.id for view in short.rows], short.more, short.total) == (ids[:4], True, 5)
    assert ([view.id for view in rest.rows], rest.more) == (ids[4:], False)


# --- cursors the API refuses -------------------------------------------------------------------


def _raw_cursor(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


GARBAGE_CURSORS = {
    "empty": "",
    "not base64": "not a cursor!",
    "non-ascii": "ÿÿÿÿ",
    "too short": _raw_cursor(b"\x01i\x00"),
    "unknown version": _raw_cursor(b"\x07i" + (5).to_bytes(8, "big")),
    "another list's": encode_cursor(Listing.ORDERS, 5),
    "an id past the id columns' range": encode_cursor(Listing.ITEMS, 2**31),
    "a longer form of a valid one": encode_cursor(Listing.ITEMS, 5) + "A",
    "over the length limit": "A" * 65,
}


@pytest.mark.parametrize("cursor", GARBAGE_CURSORS.values(), ids=GARBAGE_CURSORS.keys())
async def test_a_cursor_the_list_did_not_give_is_a_422_naming_cursor(
    client: httpx.AsyncClient, store: InMemoryStore, cursor: str
) -> None:
    await seed(store, 3)

    response = await client.get("/items/", params={"cursor": cursor})

    assert response.status_code == 422, response.text
    (problem,) = response.json()["detail"]
    assert problem["loc"] == ["query", "cursor"]
    assert "input" not in problem
    if cursor:
        assert cursor not in response.text


async def test_a_cursor_together_with_skip_is_a_422(
    client: httpx.AsyncClient, store: InMemoryStore
) -> None:
    await seed(store, 3)
    cursor = encode_cursor(Listing.ITEMS, 1)

    response = await client.get("/items/", params={"cursor": cursor, "skip": 1})

    assert response.status_code == 422, response.text
    (problem,) = response.json()["detail"]
    assert problem["loc"] == ["query", "skip"]
    assert "cursor" in problem["msg"]
    # skip=0 is no offset: allowed, as a client that always sends its defaults would.
    assert (await client.get("/items/", params={"cursor": cursor, "skip": 0})).status_code == 200


def test_a_cursor_decodes_to_the_id_it_was_made_of() -> None:
    for listing in Listing:
        for key in (0, 1, 2**31 - 1):
            assert decode_cursor(listing, encode_cursor(listing, key)) == key


# --- orders ------------------------------------------------------------------------------------


async def _place(client: httpx.AsyncClient, who: Account, sku: str) -> int:
    body: dict[str, Any] = {"lines": [{"sku": sku, "quantity": 1}]}
    response = await client.post("/orders/", json=body, headers=who.headers)
    assert response.status_code == 201, response.text
    order_id: int = response.json()["id"]
    return order_id


async def test_orders_walk_newest_first_and_a_customer_sees_only_their_own(
    client: httpx.AsyncClient, store: InMemoryStore, container: Container, admin: Account
) -> None:
    ann = await make_account(container, admin=False)
    bob = await make_account(container, admin=False)
    await shelf(store, ("A-1", 100, "1.00"))
    placed: dict[int, list[int]] = {ann.id: [], bob.id: []}
    for n in range(11):
        who = ann if n % 3 else bob
        placed[who.id].append(await _place(client, who, "A-1"))

    anns = await walk(client, "/orders/?limit=3", ann.headers)
    everyones = await walk(client, "/orders/?limit=4", admin.headers)

    assert [len(page) for page in anns] == [3, 3, 1]
    assert [found for page in anns for found in page] == sorted(placed[ann.id], reverse=True)
    everyone = sorted(placed[ann.id] + placed[bob.id], reverse=True)
    assert [found for page in everyones for found in page] == everyone


async def test_orders_count_is_the_callers_own(
    client: httpx.AsyncClient, store: InMemoryStore, container: Container, admin: Account
) -> None:
    ann = await make_account(container, admin=False)
    bob = await make_account(container, admin=False)
    await shelf(store, ("A-1", 100, "1.00"))
    for who in (ann, ann, bob):
        await _place(client, who, "A-1")

    anns = await client.get("/orders/?count=true&limit=1", headers=ann.headers)
    admins = await client.get("/orders/?count=true&limit=1", headers=admin.headers)

    assert anns.headers["x-total-count"] == "2"
    assert admins.headers["x-total-count"] == "3"


async def test_an_items_cursor_is_refused_by_orders(
    client: httpx.AsyncClient, customer: Account
) -> None:
    cursor = encode_cursor(Listing.ITEMS, 5)

    response = await client.get("/orders/", params={"cursor": cursor}, headers=customer.headers)

    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["query", "cursor"]


# --- the schema ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "filters"),
    [("/items/", {"sku", "q", "in_stock", "min_price", "max_price"}), ("/orders/", {"status"})],
)
def test_the_schema_describes_the_page_parameters_and_headers(
    app: FastAPI, path: str, filters: set[str]
) -> None:
    operation = app.openapi()["paths"][path]["get"]

    parameters = {p["name"]: p for p in operation["parameters"] if p["in"] == "query"}
    assert parameters.keys() == {"skip", "limit", "cursor", "count"} | filters
    assert all(parameters[name].get("description") for name in ("cursor", "count", "skip"))
    answer = operation["responses"]["200"]
    assert answer["headers"].keys() == {"Link", "X-Total-Count"}
    assert answer["headers"]["X-Total-Count"]["schema"]["type"] == "integer"
    assert answer["content"]["application/json"]["schema"]["type"] == "array"
