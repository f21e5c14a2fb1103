"""Pool exhaustion on PostgreSQL: a pool of 2 connections, no overflow, many requests at once.

Requests queue for a connection instead of failing or deadlocking; a request that cannot get
one within the pool timeout is told 503 with Retry-After, never a 500 and never a hang.

PostgreSQL only: ``SELECT pg_sleep`` makes the held connections honest load. A SQLite file
database gets the same ``PoolSettings`` (``test_pool_sizing.py``) and is exercised under
concurrent writers in ``test_sqlite_writers.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import event
from sqlalchemy.engine import Connection

from adapters.database import Database
from adapters.pool import PoolSettings
from entrypoints.api.app import create_app
from entrypoints.container import Container
from tests.api_support import Account, make_account
from tests.factories import item_payload
from tests.integration.databases import open_database
from tests.integration.failure_support import (
    NO_HANG_SECONDS,
    container_on,
    reporting_client,
    scalar,
    stock,
)

pytestmark = pytest.mark.postgres

# Each transaction spends this long inside the server before doing its real work.
SLOW_TRANSACTION_SECONDS = 0.02


@pytest.fixture
async def patient_pool(postgres_database: Database, postgres_url: str) -> AsyncIterator[Database]:
    """Two connections, no overflow, and a pool timeout far longer than the queue can last."""
    async with open_database(
        postgres_url, PoolSettings(size=2, max_overflow=0, timeout=NO_HANG_SECONDS)
    ) as database:
        yield database


@pytest.fixture
async def impatient_pool(postgres_database: Database, postgres_url: str) -> AsyncIterator[Database]:
    """Two connections, no overflow, and half a second to get one."""
    async with open_database(
        postgres_url, PoolSettings(size=2, max_overflow=0, timeout=0.5)
    ) as database:
        yield database


class SlowDatabase:
    """Makes every use of a connection of one database hold it for a while.

    Honest load, not a mock: the requests run the real routes and services, and each
    transaction (or autocommit read on the read port's path) starts with
    ``SELECT pg_sleep(...)`` on its own connection, as if the server were busy. It also
    records how many connections were out at each start, to prove the requests really
    contended for the pool.
    """

    def __init__(self, database: Database, seconds: float) -> None:
        self.database = database
        self.seconds = seconds
        self.transactions = 0
        self.most_checked_out = 0

    def __call__(self, connection: Connection) -> None:
        self.transactions += 1
        self.most_checked_out = max(self.most_checked_out, self.database.checked_out())
        connection.exec_driver_sql(f"SELECT pg_sleep({self.seconds})")


@contextmanager
def slow_transactions(database: Database, seconds: float) -> Iterator[SlowDatabase]:
    # The read port's engine is derived from this one and shares its listeners.
    engine = database.engine.sync_engine
    slow = SlowDatabase(database, seconds)
    event.listen(engine, "begin", slow)
    try:
        yield slow
    finally:
        event.remove(engine, "begin", slow)


@pytest.fixture
def slow_database(patient_pool: Database) -> Iterator[SlowDatabase]:
    with slow_transactions(patient_pool, SLOW_TRANSACTION_SECONDS) as slow:
        yield slow


async def _accounts(container: Container) -> tuple[Account, Account]:
    return await make_account(container, admin=True), await make_account(container, admin=False)


async def _create_item(client: httpx.AsyncClient, admin: Account, **fields: Any) -> dict[str, Any]:
    response = await client.post("/items/", json=item_payload(**fields), headers=admin.headers)
    assert response.status_code == 201, response.text
    item: dict[str, Any] = response.json()
    return item


async def test_fifty_requests_on_two_connections_all_complete_normally(
    patient_pool: Database, slow_database: SlowDatabase
) -> None:
    container = container_on(patient_pool)
    admin, customer = await _accounts(container)
    async with reporting_client(create_app(container)) as client:
        shelf = await _create_item(client, admin, sku="SHELF", quantity=100)
        bin_ = await _create_item(client, admin, sku="BIN", quantity=0)
        transactions_before = slow_database.transactions

        def reads() -> list[Any]:
            return [client.get(f"/items/{shelf['id']}") for _ in range(15)]

        def orders() -> list[Any]:
            order = {"lines": [{"sku": "SHELF", "quantity": 2}]}
            return [
                client.post("/orders/", json=order, headers=customer.headers) for _ in range(15)
            ]

        def restocks() -> list[Any]:
            url = f"/items/{bin_['id']}/restock"
            return [
                client.post(url, json={"quantity": 3}, headers=admin.headers) for _ in range(15)
            ]

        def exports() -> list[Any]:
            return [client.get("/items/export", headers=admin.headers) for _ in range(5)]

        requests = [*reads(), *orders(), *restocks(), *exports()]
        assert len(requests) == 50
        responses = await asyncio.wait_for(asyncio.gather(*requests), NO_HANG_SECONDS * 2)

    statuses = [response.status_code for response in responses]
    assert statuses == [200] * 15 + [201] * 15 + [200] * 15 + [200] * 5
    assert all(r.json()["sku"] == "SHELF" for r in responses[:15])
    assert all(len(r.text.splitlines()) == 2 for r in responses[45:])
    assert await stock(patient_pool) == {"SHELF": 100 - 15 * 2, "BIN": 15 * 3}
    assert await scalar(patient_pool, "SELECT count(*) FROM orders") == 15
    assert patient_pool.checked_out() == 0
    # The load was real: every request ran slow transactions, two at a time.
    assert slow_database.transactions - transactions_before >= 50
    assert slow_database.most_checked_out == 2


# (method, path, who, body, status once a connection is free): each kind of database route.
EXHAUSTED_REQUESTS: dict[str, tuple[str, str, str | None, Any, int]] = {
    "read one item": ("GET", "/items/{item}", None, None, 200),
    "list items": ("GET", "/items/", None, None, 200),
    "export items": ("GET", "/items/export", "admin", None, 200),
    "restock": ("POST", "/items/{item}/restock", "admin", {"quantity": 5}, 200),
    "create item": ("POST", "/items/", "admin", {"title": "Queued", "sku": "QUEUED"}, 201),
    "place order": (
        "POST",
        "/orders/",
        "customer",
        {"lines": [{"sku": "HELD", "quantity": 1}]},
        201,
    ),
    "who am I": ("GET", "/users/me", "customer", None, 200),
}


@pytest.mark.parametrize("route", EXHAUSTED_REQUESTS.keys())
async def test_a_request_that_cannot_get_a_connection_in_time_is_503_with_retry_after(
    impatient_pool: Database, route: str
) -> None:
    method, path, who, body, normal_status = EXHAUSTED_REQUESTS[route]
    container = container_on(impatient_pool)
    admin, customer = await _accounts(container)
    headers = {"admin": admin.headers, "customer": customer.headers, None: {}}[who]
    async with reporting_client(create_app(container)) as client:
        held = await _create_item(client, admin, sku="HELD", quantity=10)
        url = path.format(item=held["id"])

        # Someone else holds both connections for longer than the pool timeout.
        async with (
            impatient_pool.engine.connect(),
            impatient_pool.engine.connect(),
        ):
            assert impatient_pool.checked_out() == 2
            refused = await asyncio.wait_for(
                client.request(method, url, json=body, headers=headers), NO_HANG_SECONDS
            )
        assert refused.status_code == 503, refused.text
        assert refused.headers["Retry-After"] == "1"
        assert refused.json() == {"detail": "the service is temporarily unavailable; retry shortly"}
        assert impatient_pool.checked_out() == 0
        assert await stock(impatient_pool) == {"HELD": 10}
        assert await scalar(impatient_pool, "SELECT count(*) FROM orders") == 0

        # The pool is free again: the same request now gets its normal answer.
        served = await asyncio.wait_for(
            client.request(method, url, json=body, headers=headers), NO_HANG_SECONDS
        )
        assert served.status_code == normal_status, served.text
    assert impatient_pool.checked_out() == 0


async def test_overload_beyond_the_pool_timeout_is_503_or_success_and_never_half_done(
    impatient_pool: Database,
) -> None:
    """50 buyers, 2 connections, each transaction 0.1 s in the server, 0.5 s to get a
    connection: most buyers must be turned away. Each one gets its order (201) or a 503 with
    Retry-After that took nothing; no 500, no hang, and the stock adds up."""
    container = container_on(impatient_pool)
    admin, customer = await _accounts(container)
    async with reporting_client(create_app(container)) as client:
        await _create_item(client, admin, sku="BUSY", quantity=100)
        order = {"lines": [{"sku": "BUSY", "quantity": 1}]}
        with slow_transactions(impatient_pool, 0.1):
            responses = await asyncio.wait_for(
                asyncio.gather(
                    *(
                        client.post("/orders/", json=order, headers=customer.headers)
                        for _ in range(50)
                    )
                ),
                NO_HANG_SECONDS * 2,
            )

    statuses = [response.status_code for response in responses]
    assert set(statuses) == {201, 503}, statuses
    assert all(r.headers["Retry-After"] == "1" for r in responses if r.status_code == 503)
    placed = statuses.count(201)
    assert await scalar(impatient_pool, "SELECT count(*) FROM orders") == placed
    assert await stock(impatient_pool) == {"BUSY": 100 - placed}
    assert impatient_pool.checked_out() == 0
