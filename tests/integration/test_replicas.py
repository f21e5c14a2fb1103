"""Read replicas with read-your-writes, against a real primary and a streaming replica that
applies every commit 500 ms late (``replicated_cluster``): the lean reads go to the replica,
and a read that carries a write's consistency token never comes back staler than that write.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest
from dependency_injector import providers

from adapters.database import Database
from entrypoints.api.app import create_app
from entrypoints.api.consistency import HEADER
from entrypoints.container import Container, dispose
from tests.api_support import Account, api_client, build_test_container, make_account
from tests.integration.conftest import ReplicatedDatabase
from tests.integration.databases import open_database
from tests.integration.failure_support import scalar, stock
from tests.integration.replication import ReplicatedCluster
from tests.polling import eventually

pytestmark = pytest.mark.postgres


@dataclass
class Shop:
    """The API on the primary with the replica configured, as a test talks to it."""

    client: httpx.AsyncClient
    container: Container
    database: Database
    admin: Account
    cluster: ReplicatedCluster

    async def new_item(self, quantity: int = 5) -> httpx.Response:
        sku = f"R-{uuid.uuid4().hex[:10]}"
        body = {"title": sku, "sku": sku, "quantity": quantity}
        created = await self.client.post("/items/", json=body, headers=self.admin.headers)
        assert created.status_code == 201, created.text
        return created


async def _shop(
    replicated: ReplicatedDatabase, cluster: ReplicatedCluster, replica_wait: float
) -> AsyncIterator[Shop]:
    # The previous test's clean-up reaches the replica 500 ms late, holding its tables' locks.
    await cluster.wait_for_replay()
    async with open_database(replicated.primary_url) as database:
        container = build_test_container(
            replicated.primary_url,
            replica_urls=[replicated.replica_url],
            replica_wait=replica_wait,
        )
        container.database.override(providers.Object(database))
        try:
            admin = await make_account(container, admin=True)
            # Until a replica has replayed a position the primary had, its lag is unknown and
            # it serves nothing: caught up, then checked, as readiness does before serving.
            await cluster.wait_for_replay()
            replicas = container.replicas()
            assert replicas is not None
            await replicas.check_all(within=1.0)
            async with api_client(create_app(container)) as client:
                yield Shop(client, container, database, admin, cluster)
        finally:
            await dispose(container)


@pytest.fixture
async def shop(
    replicated_database: ReplicatedDatabase, replicated_cluster: ReplicatedCluster
) -> AsyncIterator[Shop]:
    async for shop in _shop(replicated_database, replicated_cluster, replica_wait=0.02):
        yield shop


async def test_a_read_with_the_token_of_a_write_sees_it_200_times_in_a_row(shop: Shop) -> None:
    item = (await shop.new_item(quantity=0)).json()
    stale: list[int] = []
    for expected in range(1, 201):
        restocked = await shop.client.post(
            f"/items/{item['id']}/restock", json={"quantity": 1}, headers=shop.admin.headers
        )
        assert restocked.status_code == 200, restocked.text
        token = restocked.headers[HEADER]
        read = await shop.client.get(f"/items/{item['id']}", headers={HEADER: token})
        assert read.status_code == 200, read.text
        if read.json()["quantity"] != expected:
            stale.append(expected)
    assert stale == [], f"{len(stale)} reads missed the write before them"


async def test_a_read_without_a_token_is_served_by_the_replica(shop: Shop) -> None:
    created = await shop.new_item()
    item_id, token = created.json()["id"], created.headers[HEADER]

    without = await shop.client.get(f"/items/{item_id}")
    with_token = await shop.client.get(f"/items/{item_id}", headers={HEADER: token})
    await shop.cluster.wait_for_replay()
    later = await shop.client.get(f"/items/{item_id}")

    # Only the replica, 500 ms behind, can not know an item the primary just committed.
    assert without.status_code == 404, "the tokenless read was not served by the replica"
    assert with_token.status_code == 200
    assert later.status_code == 200


@pytest.mark.parametrize("token", ["", "not-a-position", "1/", "FFFFFFFFF/0", "0/0; DROP"])
async def test_a_malformed_token_is_a_400_with_a_reason(shop: Shop, token: str) -> None:
    created = await shop.new_item()

    read = await shop.client.get(f"/items/{created.json()['id']}", headers={HEADER: token})

    assert read.status_code == 400, read.text
    assert "read position" in read.json()["detail"]


async def test_a_token_from_the_future_is_served_by_the_primary(shop: Shop) -> None:
    """Ahead of every replica, and of the primary too: nobody could be fresher than the
    primary, so it answers (after the bounded wait), never with something stale."""
    created = await shop.new_item()

    read = await shop.client.get(f"/items/{created.json()['id']}", headers={HEADER: "FF/0"})

    assert read.status_code == 200
    assert read.json()["id"] == created.json()["id"]


@dataclass
class Load:
    answers: list[int] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


async def _keep_reading_and_writing(
    shop: Shop, item_id: int, until: asyncio.Event, load: Load
) -> None:
    while not until.is_set():
        try:
            read = await shop.client.get(f"/items/{item_id}")
            restocked = await shop.client.post(
                f"/items/{item_id}/restock", json={"quantity": 1}, headers=shop.admin.headers
            )
        except httpx.HTTPError as error:
            load.failures.append(repr(error))
            continue
        for answer in (read, restocked):
            load.answers.append(answer.status_code)
            if answer.status_code != 200:
                load.failures.append(f"{answer.status_code}: {answer.text[:200]}")


async def _served_by_the_replica(shop: Shop) -> bool:
    """A tokenless read of an item committed a moment ago: only a lagging replica misses it."""
    created = await shop.new_item()
    return (await shop.client.get(f"/items/{created.json()['id']}")).status_code == 404


async def test_a_replica_stopped_mid_load_costs_no_request_and_comes_back(shop: Shop) -> None:
    item_id = (await shop.new_item()).json()["id"]
    await shop.cluster.wait_for_replay()
    assert await _served_by_the_replica(shop)
    stop, load = asyncio.Event(), Load()
    readers = [
        asyncio.create_task(_keep_reading_and_writing(shop, item_id, stop, load)) for _ in range(4)
    ]
    try:
        # The load runs with the replica up (every reader has had its answers)...
        await eventually(lambda: len(load.answers) >= 2 * len(readers), 60)
        await shop.cluster.stop_replica()
        # ...and goes on with it down.
        answered_while_up = len(load.answers)
        await eventually(lambda: len(load.answers) >= answered_while_up + 2 * len(readers), 60)
        during = [await _served_by_the_replica(shop) for _ in range(3)]
        ready = await shop.client.get("/health/ready")
        await shop.cluster.start_replica()
        await shop.cluster.wait_for_replay()
    finally:
        stop.set()
        await asyncio.gather(*readers)

    assert load.failures == [], load.failures[:5]
    assert len(load.answers) > 20, "the load hardly ran"
    assert during == [False] * 3, "reads still went to the stopped replica"
    assert ready.status_code == 200
    assert ready.json() == {
        "status": "degraded",
        "database": "ok",
        "replicas": {"replica 1": "down"},
    }

    # Back in rotation once it is re-checked (every second) and caught up.
    async def reads_went_back_to_the_replica() -> bool:
        if await _served_by_the_replica(shop):
            return True
        await shop.cluster.wait_for_replay()
        return False

    await eventually(reads_went_back_to_the_replica, 15)
    # Readiness answers from the last check (every second, from the app's lifespan, which this
    # in-process client does not run): a check now, then readiness says the same.
    checked = await shop.client.get("/health/dependencies")
    assert checked.json() == {"database": "ok", "replicas": {"replica 1": "ok"}}
    assert (await shop.client.get("/health/ready")).json()["status"] == "ready"


async def _buy(shop: Shop, buyer: Account, sku: str, key: str | None = None) -> httpx.Response:
    headers = buyer.headers | ({"Idempotency-Key": key} if key else {})
    body = {"lines": [{"sku": sku, "quantity": 1}]}
    return await shop.client.post("/orders/", json=body, headers=headers)


async def test_the_oversell_race_is_unchanged_with_replicas(shop: Shop) -> None:
    """The buyers' accounts are a moment old and the replica may not know them yet: the
    account check reads the primary, so none of them is answered 401."""
    sku = (await shop.new_item(quantity=10)).json()["sku"]
    buyers = [await make_account(shop.container, admin=False) for _ in range(40)]

    answers = await asyncio.gather(*(_buy(shop, buyer, sku) for buyer in buyers))

    assert sorted(answer.status_code for answer in answers) == [201] * 10 + [409] * 30
    assert (await stock(shop.database))[sku] == 0


async def test_the_idempotency_race_is_unchanged_with_replicas(shop: Shop) -> None:
    sku = (await shop.new_item(quantity=10)).json()["sku"]
    buyer = await make_account(shop.container, admin=False)

    answers = await asyncio.gather(*(_buy(shop, buyer, sku, key="same-key") for _ in range(20)))

    assert [answer.status_code for answer in answers] == [201] * 20
    assert len({answer.json()["id"] for answer in answers}) == 1
    assert await scalar(shop.database, "SELECT count(*) FROM orders") == 1


async def test_a_revoked_token_is_refused_while_the_replica_still_has_the_old_account(
    shop: Shop,
) -> None:
    """The account check of a bearer token reads the primary: the replica, 500 ms behind,
    still holds the credentials version the token was issued under, and must not vouch
    for it (a revocation would otherwise hold only after the lag)."""
    buyer = await make_account(shop.container, admin=False)
    await shop.cluster.wait_for_replay()  # the replica knows the account as it is now
    assert (await shop.client.get("/users/me", headers=buyer.headers)).status_code == 200

    logged_out = await shop.client.post("/users/me/logout-all", headers=buyer.headers)
    assert logged_out.status_code == 204

    after = await shop.client.get("/users/me", headers=buyer.headers)  # replica not there yet
    assert after.status_code == 401, after.text
