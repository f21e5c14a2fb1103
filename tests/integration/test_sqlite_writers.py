"""Thirty writers at once on the embedded SQLite default: they queue, none is refused.

SQLite allows one writer at a time. A deferred transaction that reads and then writes fails
at once with "database is locked" when another writer got in between, and no busy timeout
saves it; the engine therefore starts every unit of work with ``BEGIN IMMEDIATE``, so writers
wait for the lock (up to the busy timeout) instead. Restocks and orders read before they
write, so they are the requests that would fail without it.

The database is built exactly as the default configuration builds it (``Database`` with the
default busy timeout) on the run's migrated SQLite file.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from adapters.database import Database
from entrypoints.container import Container
from entrypoints.settings import Settings
from tests.api_support import Account, make_account
from tests.integration.databases import open_database
from tests.integration.failure_support import (
    NO_HANG_SECONDS,
    assert_nothing_holds_the_database,
    scalar,
    stock,
)

WRITERS_PER_KIND = 10


@pytest.fixture
async def database(sqlite_database: Database, sqlite_url: str) -> AsyncIterator[Database]:
    """Overrides the suite's ``database``: SQLite only, a pool of its own."""
    assert Settings().sqlite_busy_timeout_ms == 5000  # the default this test runs under
    async with open_database(sqlite_url) as database:
        yield database


pytestmark = pytest.mark.reporting_client  # a writer refused by a crash must show as its 500


async def test_thirty_concurrent_writers_all_succeed_and_every_write_is_there(
    database: Database, container: Container, client: httpx.AsyncClient
) -> None:
    admin: Account = await make_account(container, admin=True)
    customer: Account = await make_account(container, admin=False)
    ids = {}
    for sku, quantity in (("RESTOCKED", 0), ("ORDERED", 100)):
        created = await client.post(
            "/items/", json={"title": sku, "sku": sku, "quantity": quantity}, headers=admin.headers
        )
        assert created.status_code == 201, created.text
        ids[sku] = created.json()["id"]

    creates = [
        client.post(
            "/items/", json={"title": f"New {n}", "sku": f"NEW-{n:02d}"}, headers=admin.headers
        )
        for n in range(WRITERS_PER_KIND)
    ]
    restocks = [
        client.post(
            f"/items/{ids['RESTOCKED']}/restock", json={"quantity": 2}, headers=admin.headers
        )
        for _ in range(WRITERS_PER_KIND)
    ]
    orders = [
        client.post(
            "/orders/",
            json={"lines": [{"sku": "ORDERED", "quantity": 3}]},
            headers={**customer.headers, "Idempotency-Key": f"writer-{n}"},
        )
        for n in range(WRITERS_PER_KIND)
    ]
    responses = await asyncio.wait_for(
        asyncio.gather(*creates, *restocks, *orders), NO_HANG_SECONDS
    )

    refused = [(r.request.url.path, r.status_code, r.text) for r in responses if r.is_error]
    assert refused == []
    assert [r.status_code for r in responses] == (
        [201] * WRITERS_PER_KIND + [200] * WRITERS_PER_KIND + [201] * WRITERS_PER_KIND
    )
    expected = {"RESTOCKED": 2 * WRITERS_PER_KIND, "ORDERED": 100 - 3 * WRITERS_PER_KIND}
    expected |= {f"NEW-{n:02d}": 0 for n in range(WRITERS_PER_KIND)}
    assert await stock(database) == expected
    assert await scalar(database, "SELECT count(*) FROM orders") == WRITERS_PER_KIND
    assert await scalar(database, "SELECT count(*) FROM idempotency_keys") == WRITERS_PER_KIND
    await assert_nothing_holds_the_database(database)
