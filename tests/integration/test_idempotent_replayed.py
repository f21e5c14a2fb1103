"""``Idempotent-Replayed: true`` on the replay of an Idempotency-Key, on SQLite and PostgreSQL."""

from __future__ import annotations

import httpx

from adapters.database import Database
from entrypoints.container import Container
from tests.api_support import Account, make_account
from tests.factories import item_payload
from tests.integration.failure_support import stock

HEADER = "Idempotent-Replayed"


async def test_only_the_replay_of_a_key_says_it_was_replayed(
    client: httpx.AsyncClient, database: Database, container: Container, admin: Account
) -> None:
    created = await client.post(
        "/items/", json=item_payload(sku="REPLAYED", quantity=5), headers=admin.headers
    )
    assert created.status_code == 201, created.text
    buyer = await make_account(container, admin=False)
    keyed = {**buyer.headers, "Idempotency-Key": "replayed-1"}
    purchase = {"lines": [{"sku": "REPLAYED", "quantity": 2}]}

    first = await client.post("/orders/", json=purchase, headers=keyed)
    replay = await client.post("/orders/", json=purchase, headers=keyed)
    unkeyed = await client.post("/orders/", json=purchase, headers=buyer.headers)

    assert [r.status_code for r in (first, replay, unkeyed)] == [201, 201, 201]
    assert HEADER not in first.headers
    assert replay.headers[HEADER] == "true"
    assert replay.json()["id"] == first.json()["id"]
    assert HEADER not in unkeyed.headers
    assert await stock(database) == {"REPLAYED": 1}
