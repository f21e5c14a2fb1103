"""Two `stockroom serve` processes (2 workers each) on one PostgreSQL database, as two app hosts
would run: the races that matter are split across them, directly and through PgBouncer in
transaction mode. Correctness must come from the database (row locks, unique keys), never from
one process's memory.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from adapters.database import Database
from adapters.postgres import Pooler
from adapters.tokens import JwtTokenCodec
from domain.item import Item
from domain.user import User
from tests.integration.databases import throwaway_database
from tests.integration.failure_support import scalar, stock
from tests.integration.servers import PgBouncer, live_client, stockroom_serve
from tests.integration.units import unit_of_work

pytestmark = pytest.mark.postgres

SECRET_KEY = "many-hosts-signing-key-" + "0123456789abcdef" * 3
REQUEST_TIMEOUT = 60.0


@dataclass
class Deployment:
    """What the app hosts share: one database, reached directly or through the pooler."""

    database: Database  # the test's own view of it, for seeding and probes
    settings: dict[str, str]  # what each `stockroom serve` is configured with


@pytest.fixture(params=[Pooler.NONE, Pooler.TRANSACTION])
async def deployment(
    request: pytest.FixtureRequest, postgres_url: str
) -> AsyncIterator[Deployment]:
    """A throwaway database of the test's own, reached directly or through the suite's
    PgBouncer in transaction mode."""
    pooler: Pooler = request.param
    async with throwaway_database(postgres_url, "stockroom_hosts") as database:
        url = database.url.render_as_string(hide_password=False)
        if pooler is Pooler.TRANSACTION:
            bouncer: PgBouncer = request.getfixturevalue("pgbouncer_transaction")
            url = bouncer.url(database.url.database or "")
        yield Deployment(database, serve_settings(url, pooler))


def serve_settings(url: str, pooler: Pooler) -> dict[str, str]:
    return {
        "STOCKROOM_DATABASE_URL": url,
        "STOCKROOM_DATABASE_POOLER": pooler.value,
        "STOCKROOM_SECRET_KEY": SECRET_KEY,
    }


async def seed(database: Database, customers: int, **stock: int) -> list[str]:
    """Items with the given stock, and ``customers`` accounts; a bearer token for each."""
    users = [
        User(f"buyer-{n}-{secrets.token_hex(3)}@example.com", "unused") for n in range(customers)
    ]
    async with unit_of_work(database) as uow:
        for sku, quantity in stock.items():
            await uow.items.add(Item(sku=sku, title=sku, price=Decimal("2.50"), quantity=quantity))
        for user in users:
            await uow.users.add(user)
        await uow.commit()
    codec = JwtTokenCodec(SECRET_KEY, timedelta(minutes=30))
    return [
        codec.issue(user.id, user.role.value, credentials_version=user.credentials_version)
        for user in users
        if user.id is not None
    ]


async def _two_hosts(deployment: Deployment, tmp_path: Path) -> AsyncIterator[list[str]]:
    with (
        stockroom_serve(deployment.settings, tmp_path, workers=2) as first,
        stockroom_serve(deployment.settings, tmp_path, workers=2) as second,
    ):
        yield [first, second]


@pytest.fixture
async def hosts(deployment: Deployment, tmp_path: Path) -> AsyncIterator[list[str]]:
    async for bases in _two_hosts(deployment, tmp_path):
        yield bases


async def buy(
    client: httpx.AsyncClient, base: str, token: str, sku: str, key: str | None = None
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return await client.post(
        f"{base}/orders/", json={"lines": [{"sku": sku, "quantity": 1}]}, headers=headers
    )


async def test_a_hundred_buyers_on_two_hosts_take_exactly_the_ten_units(
    deployment: Deployment, hosts: list[str]
) -> None:
    tokens = await seed(deployment.database, 100, LAST=10)
    async with live_client(timeout=REQUEST_TIMEOUT) as client:
        answers = await asyncio.gather(
            *(buy(client, hosts[n % 2], token, "LAST") for n, token in enumerate(tokens))
        )

    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [201] * 10 + [409] * 90, [a.text for a in answers if a.status_code >= 500]
    sold_by = {answer.json()["id"] for answer in answers if answer.status_code == 201}
    assert len(sold_by) == 10
    assert await stock(deployment.database) == {"LAST": 0}
    assert await scalar(deployment.database, "SELECT count(*) FROM orders") == 10
    assert (
        await scalar(deployment.database, "SELECT coalesce(sum(quantity), 0) FROM order_lines")
        == 10
    )


async def test_twenty_retries_of_one_key_on_two_hosts_make_one_order(
    deployment: Deployment, hosts: list[str]
) -> None:
    (token,) = await seed(deployment.database, 1, CUP=50)
    key = f"retry-{uuid.uuid4().hex}"
    async with live_client(timeout=REQUEST_TIMEOUT) as client:
        answers = await asyncio.gather(
            *(buy(client, hosts[n % 2], token, "CUP", key) for n in range(20))
        )

    assert [answer.status_code for answer in answers] == [201] * 20, [a.text for a in answers]
    assert len({answer.json()["id"] for answer in answers}) == 1
    assert await stock(deployment.database) == {"CUP": 49}
    assert await scalar(deployment.database, "SELECT count(*) FROM orders") == 1
    assert await scalar(deployment.database, "SELECT count(*) FROM idempotency_keys") == 1
