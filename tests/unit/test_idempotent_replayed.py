"""``Idempotent-Replayed: true`` marks the answer to a repeated Idempotency-Key (issue 24):
the first answer and its replay are otherwise the same 201 with the same body."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from entrypoints.container import Container
from service_layer.services import orders as services
from tests.api_support import Account, make_account
from tests.fakes import FakeUnitOfWork, InMemoryStore
from tests.unit.order_support import add_user, lines, shelf

HEADER = "Idempotent-Replayed"
PURCHASE = {"lines": [{"sku": "A-1", "quantity": 2}]}


@pytest.fixture
async def alice(container: Container) -> Account:
    return await make_account(container, admin=False)


async def test_only_the_replay_of_a_key_says_it_was_replayed(
    client: httpx.AsyncClient, store: InMemoryStore, alice: Account
) -> None:
    await shelf(store, ("A-1", 5, "1"))
    keyed = {**alice.headers, "Idempotency-Key": "replay-me"}

    first = await client.post("/orders/", json=PURCHASE, headers=keyed)
    replay = await client.post("/orders/", json=PURCHASE, headers=keyed)

    assert (first.status_code, replay.status_code) == (201, 201)
    assert HEADER not in first.headers
    assert replay.headers[HEADER] == "true"
    assert replay.json() == first.json()


async def test_an_order_without_a_key_is_never_a_replay(
    client: httpx.AsyncClient, store: InMemoryStore, alice: Account
) -> None:
    await shelf(store, ("A-1", 5, "1"))

    answers = [await client.post("/orders/", json=PURCHASE, headers=alice.headers) for _ in "ab"]

    assert [answer.status_code for answer in answers] == [201, 201]
    assert all(HEADER not in answer.headers for answer in answers)


async def test_the_service_tells_a_replay_from_a_sale(store: InMemoryStore) -> None:
    await shelf(store, ("A-1", 5, "1"))
    alice = await add_user(store)

    sold = await services.place_order(
        FakeUnitOfWork(store), alice, lines(("A-1", 1)), idempotency_key="k"
    )
    again = await services.place_order(
        FakeUnitOfWork(store), alice, lines(("A-1", 1)), idempotency_key="k"
    )

    assert (sold.replayed, again.replayed) == (False, True)
    assert again == sold  # the same order: being a replay is not part of what it is


def test_the_schema_declares_the_header_on_the_201(app: FastAPI) -> None:
    placed = app.openapi()["paths"]["/orders/"]["post"]["responses"]["201"]

    assert placed["headers"][HEADER]["schema"] == {"type": "string", "enum": ["true"]}
