"""Idempotency keys expire and are purged (issue 14, finding 6), on SQLite and PostgreSQL.

Place-then-cancel with fresh keys used to add a stored key each time, forever. Now a key
older than ``STOCKROOM_IDEMPOTENCY_TTL_HOURS`` no longer replays over HTTP, and the purge
(the use case, ``stockroom maintenance purge``, and each worker's periodic task) removes
expired keys in batches, so storage stays bounded by the keys younger than the TTL.

Keys are aged by writing an older ``created_at`` directly, or placed with the clock handed
to the use case; each test counts only its own customer's keys, since the run's databases
are shared.
"""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from dependency_injector import providers
from sqlalchemy import func, select, update

from adapters.database import Database
from adapters.orm import idempotency_keys
from domain.errors import IdempotencyKeyReused
from domain.idempotency import DEFAULT_KEY_TTL
from entrypoints.api.app import create_app
from entrypoints.container import Container
from entrypoints.settings import Settings
from service_layer.actor import Actor
from service_layer.services import items as item_services
from service_layer.services import orders as order_services
from service_layer.services.maintenance import purge_expired_idempotency_keys
from service_layer.views import OrderView
from tests.api_support import Account, build_test_container, make_account
from tests.conftest import TEST_SECRET_KEY
from tests.integration.cli_support import stockroom
from tests.integration.databases import open_database
from tests.integration.failure_support import outside_connection, stock
from tests.integration.units import unit_of_work
from tests.polling import eventually
from tests.unit.order_support import lines

HOUR = timedelta(hours=1)


async def _keys_of(database: Database, customer_id: int) -> int:
    """This customer's stored keys, as committed (read from outside the pool under test)."""
    mine = idempotency_keys.c.customer_id == customer_id
    async with outside_connection(database) as connection:
        query = select(func.count()).select_from(idempotency_keys).where(mine)
        return int((await connection.execute(query)).scalar_one())


async def _age_keys(database: Database, customer_id: int, by: timedelta) -> None:
    """Make every key of this customer ``by`` older than now (committed, from outside)."""
    async with outside_connection(database) as connection:
        await connection.execute(
            update(idempotency_keys)
            .where(idempotency_keys.c.customer_id == customer_id)
            .values(created_at=datetime.now(UTC) - by)
        )
        await connection.commit()


async def _shelf_item(container: Container, quantity: int = 1_000) -> str:
    sku = f"EXP-{secrets.token_hex(4)}".upper()
    new = item_services.NewItem(title="Expiring", sku=sku, quantity=quantity)
    await item_services.add_item(container.uow(), new)
    return sku


async def test_an_expired_key_does_not_replay_over_http(
    client: httpx.AsyncClient, database: Database, container: Container, customer: Account
) -> None:
    sku = await _shelf_item(container, quantity=10)
    order: dict[str, Any] = {"lines": [{"sku": sku, "quantity": 2}]}
    headers = {**customer.headers, "Idempotency-Key": "expiring-1"}
    first = await client.post("/orders/", json=order, headers=headers)
    assert first.status_code == 201, first.text
    replayed = await client.post("/orders/", json=order, headers=headers)
    assert replayed.json()["id"] == first.json()["id"]

    await _age_keys(database, customer.id, DEFAULT_KEY_TTL + HOUR)
    after = await client.post("/orders/", json=order, headers=headers)

    assert after.status_code == 201, after.text
    assert after.json()["id"] != first.json()["id"]
    assert (await stock(database))[sku] == 6  # the expired key's request bought again
    assert await _keys_of(database, customer.id) == 1  # the key now names the new order
    again = await client.post("/orders/", json=order, headers=headers)
    assert again.json()["id"] == after.json()["id"]


async def test_place_then_cancel_with_fresh_keys_stays_bounded_by_the_purge(
    database: Database, container: Container, customer: Account
) -> None:
    """Finding 6 over simulated days: every hour some place-then-cancel rounds with fresh
    keys, then a purge (in small batches, so each runs several units); the keys stored never
    exceed those placed within the TTL. The clock is handed to the use cases, in the past,
    so no other test's keys are old enough to be touched."""
    sku = await _shelf_item(container)
    buyer = Actor(customer.id, is_admin=False)
    start = datetime.now(UTC) - 3 * DEFAULT_KEY_TTL
    per_hour, hours = 3, 36
    placed_at: list[datetime] = []
    removed = 0

    for hour in range(hours):
        now = start + hour * HOUR
        for n in range(per_hour):
            order = await order_services.place_order(
                unit_of_work(database),
                buyer,
                lines((sku, 1)),
                idempotency_key=f"round-{hour}-{n}",
                now=now,
            )
            await order_services.cancel_order(unit_of_work(database), buyer, order.id)
            placed_at.append(now)
        removed += await purge_expired_idempotency_keys(unit_of_work(database), now, batch_size=2)

        young = sum(1 for at in placed_at if at > now - DEFAULT_KEY_TTL)
        assert await _keys_of(database, customer.id) <= young

    assert await _keys_of(database, customer.id) == 24 * per_hour
    assert removed == (hours - 24) * per_hour


async def test_each_worker_purges_on_a_timer(database: Database, customer: Account) -> None:
    own_container = build_test_container()
    # A database of the app's own: its lifespan disposes it; the run's shared one stays open.
    async with open_database(database.url.render_as_string(hide_password=False)) as own:
        settings = Settings(
            database_url=own.url.render_as_string(hide_password=False),
            secret_key=TEST_SECRET_KEY,
            purge_interval_seconds=0.05,
            metrics_enabled=False,
        )
        own_container.settings.override(providers.Object(settings))
        own_container.database.override(providers.Object(own))
        sku = await _shelf_item(own_container)
        buyer = Actor(customer.id, is_admin=False)
        for n in range(3):
            await order_services.place_order(
                own_container.uow(), buyer, lines((sku, 1)), idempotency_key=f"timer-{n}"
            )
        await _age_keys(database, customer.id, DEFAULT_KEY_TTL + HOUR)
        await order_services.place_order(
            own_container.uow(), buyer, lines((sku, 1)), idempotency_key="timer-fresh"
        )
        app = create_app(own_container)

        assert await _keys_of(database, customer.id) == 4

        async def the_timer_purged_the_expired_keys() -> bool:
            return await _keys_of(database, customer.id) == 1

        async with app.router.lifespan_context(app):
            await eventually(the_timer_purged_the_expired_keys, 10)
            left = await _keys_of(database, customer.id)

        assert left == 1  # only the fresh key


async def test_the_maintenance_purge_command(fresh_database: Database) -> None:
    own = fresh_database
    own_container = build_test_container()
    own_container.database.override(providers.Object(own))
    account = await make_account(own_container, admin=False)
    sku = await _shelf_item(own_container)
    buyer = Actor(account.id, is_admin=False)
    for n in range(5):
        await order_services.place_order(
            own_container.uow(), buyer, lines((sku, 1)), idempotency_key=f"cli-{n}"
        )
    await _age_keys(own, account.id, DEFAULT_KEY_TTL + HOUR)
    await order_services.place_order(
        own_container.uow(), buyer, lines((sku, 1)), idempotency_key="cli-fresh"
    )
    url = own.url.render_as_string(hide_password=False)

    purged = stockroom("maintenance", "purge", url=url, secret_key=TEST_SECRET_KEY)
    again = stockroom("maintenance", "purge", url=url, secret_key=TEST_SECRET_KEY)

    assert purged.returncode == 0, purged.stderr
    assert purged.stdout.splitlines()[0] == "removed 5 expired idempotency keys"
    assert again.stdout.splitlines()[0] == "removed 0 expired idempotency keys"
    assert await _keys_of(own, account.id) == 1


@pytest.mark.postgres
async def test_concurrent_retries_renew_an_expired_key_once(
    postgres_database: Database,
) -> None:
    """Parallel connections: ten retries of a request whose key has expired make one new
    order between them; two different requests racing for one expired key make one order,
    and the other is told the key is taken by a different request."""
    database = postgres_database
    container = build_test_container()
    container.database.override(providers.Object(database))
    account = await make_account(container, admin=False)
    buyer = Actor(account.id, is_admin=False)
    cup, pot = await _shelf_item(container), await _shelf_item(container)

    async def buy(sku: str, key: str) -> OrderView:
        uow = unit_of_work(database)
        return await order_services.place_order(uow, buyer, lines((sku, 1)), idempotency_key=key)

    first = await buy(cup, "race")
    await _age_keys(database, account.id, DEFAULT_KEY_TTL + HOUR)
    retries = await asyncio.gather(*(buy(cup, "race") for _ in range(10)))

    assert len({order.id for order in retries}) == 1
    assert retries[0].id != first.id
    assert (await stock(database))[cup] == 1_000 - 2

    await _age_keys(database, account.id, DEFAULT_KEY_TTL + HOUR)
    rivals = await asyncio.gather(buy(cup, "race"), buy(pot, "race"), return_exceptions=True)

    placed = [result for result in rivals if isinstance(result, OrderView)]
    refused = [result for result in rivals if isinstance(result, IdempotencyKeyReused)]
    assert (len(placed), len(refused)) == (1, 1), rivals
    stock_now = await stock(database)
    assert (stock_now[cup], stock_now[pot]) in {(1_000 - 3, 1_000), (1_000 - 2, 1_000 - 1)}
