"""A database connection killed under a live request, on PostgreSQL.

The kill is real: inside a real ``POST /orders/`` or ``POST /items/``, once the request's
writes have been flushed to the server, another connection runs ``pg_terminate_backend`` on
the request's own backend and waits until it is gone. The server rolls the transaction back
as the backend dies; the application must answer 503 with Retry-After, keep nothing of the
request, hand the dead connection to no one, and serve the very next request normally.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

from adapters.database import Database
from adapters.pool import PoolSettings
from entrypoints.api.app import create_app
from entrypoints.container import Container
from tests.api_support import Account
from tests.integration.databases import open_database
from tests.integration.failure_support import (
    backend_exists,
    backends_in_transaction,
    bounded,
    container_on,
    hookable_session_class,
    reporting_client,
    scalar,
    stock,
)

pytestmark = pytest.mark.postgres

UNAVAILABLE = {"detail": "the service is temporarily unavailable; retry shortly"}


@pytest.fixture
async def pool(postgres_database: Database, postgres_url: str) -> AsyncIterator[Database]:
    async with open_database(postgres_url, PoolSettings(size=2, max_overflow=0)) as database:
        yield database


@pytest.fixture
async def killer(postgres_database: Database) -> AsyncIterator[AsyncConnection]:
    """A connection outside the pool under test, in autocommit: it never sits in a transaction."""
    async with postgres_database.engine.connect() as connection:
        yield await connection.execution_options(isolation_level="AUTOCOMMIT")


class BackendKiller:
    """Pool and session hooks: record the backend pid of every connection the pool hands out
    (units of work and the read port alike); once armed, terminate the backend of the first
    session that flushes, from the killer connection."""

    def __init__(self, killer: AsyncConnection) -> None:
        self.killer = killer
        self.armed = False
        self.pids: list[int] = []
        self.killed: list[int] = []

    def checkout(
        self, dbapi_connection: Any, _record: ConnectionPoolEntry, _proxy: PoolProxiedConnection
    ) -> None:
        # After the pool's own checkout check (registered when the engine was built), so a
        # connection it discards is never recorded as handed out. No round trip: asyncpg
        # knows its backend's pid from the start-up.
        self.pids.append(int(dbapi_connection.driver_connection.get_server_pid()))

    def after_begin(
        self, session: Session, _transaction: SessionTransaction, connection: Connection
    ) -> None:
        pid = int(connection.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())
        session.info["backend_pid"] = pid

    def after_flush(self, session: Session, _flush_context: object) -> None:
        if not self.armed:
            return
        self.armed = False
        pid = session.info["backend_pid"]
        # Runs inside the request's greenlet, so the killer's sync API may be used here.
        terminated = self.killer.sync_connection.exec_driver_sql(  # type: ignore[union-attr]
            f"SELECT pg_terminate_backend({int(pid)}, 10000)"
        ).scalar_one()
        assert terminated is True, "the backend did not exit within 10 s"
        self.killed.append(pid)


@pytest.fixture
def backend_killer(killer: AsyncConnection) -> BackendKiller:
    return BackendKiller(killer)


@pytest.fixture
def container(pool: Database, backend_killer: BackendKiller) -> Container:
    """On a two-connection pool of its own, with the hooks that kill a backend mid-request."""
    event.listen(pool.engine.sync_engine, "checkout", backend_killer.checkout)
    session_class = hookable_session_class()
    event.listen(session_class, "after_begin", backend_killer.after_begin)
    event.listen(session_class, "after_flush", backend_killer.after_flush)
    return container_on(pool, session_class)


async def _create(client: Any, admin: Account, **body: Any) -> dict[str, Any]:
    response = await client.post("/items/", json=body, headers=admin.headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def _nothing_held(pool: Database, postgres_url: str) -> None:
    assert pool.checked_out() == 0
    assert await backends_in_transaction(postgres_url) == []


async def test_backend_killed_after_an_order_flushed_is_503_and_keeps_nothing(
    container: Container,
    pool: Database,
    postgres_url: str,
    backend_killer: BackendKiller,
    admin: Account,
    customer: Account,
) -> None:
    order = {"lines": [{"sku": "KILLED", "quantity": 2}]}
    retry_safe = {**customer.headers, "Idempotency-Key": "order-under-fire"}
    async with reporting_client(create_app(container)) as client:
        await _create(client, admin, title="Killed", sku="KILLED", quantity=10)

        backend_killer.armed = True
        response = await bounded(client.post("/orders/", json=order, headers=retry_safe))

        assert backend_killer.killed, "the order never flushed, so nothing was killed"
        assert (response.status_code, response.json()) == (503, UNAVAILABLE)
        assert response.headers["Retry-After"] == "1"
        assert await stock(pool) == {"KILLED": 10}
        assert await scalar(pool, "SELECT count(*) FROM orders") == 0
        assert await scalar(pool, "SELECT count(*) FROM order_lines") == 0
        assert await scalar(pool, "SELECT count(*) FROM idempotency_keys") == 0
        await _nothing_held(pool, postgres_url)
        dead = backend_killer.killed[0]
        assert not await backend_exists(postgres_url, dead)

        # The client retries with the same key, as a 503 invites: one order, stock taken once.
        backend_killer.pids.clear()
        retried = await client.post("/orders/", json=order, headers=retry_safe)

    assert retried.status_code == 201, retried.text
    assert await stock(pool) == {"KILLED": 8}
    assert await scalar(pool, "SELECT count(*) FROM orders") == 1
    assert backend_killer.pids, "the retry used no connection"
    assert dead not in backend_killer.pids, "the dead connection was handed out again"
    await _nothing_held(pool, postgres_url)


async def test_backend_killed_while_a_new_item_is_committed_is_503_and_keeps_nothing(
    container: Container,
    pool: Database,
    postgres_url: str,
    backend_killer: BackendKiller,
    admin: Account,
) -> None:
    """``add_item`` sends its INSERT from inside ``uow.commit()``, whose explicit flush comes
    before the COMMIT: the backend dies between that flush and the COMMIT."""
    async with reporting_client(create_app(container)) as client:
        backend_killer.armed = True
        response = await bounded(
            client.post("/items/", json={"title": "Lost", "sku": "LOST"}, headers=admin.headers)
        )

        assert backend_killer.killed, "nothing flushed, so nothing was killed"
        assert (response.status_code, response.json()) == (503, UNAVAILABLE)
        assert response.headers["Retry-After"] == "1"
        assert await stock(pool) == {}
        await _nothing_held(pool, postgres_url)

        backend_killer.pids.clear()
        retried = await client.post(
            "/items/", json={"title": "Lost", "sku": "LOST"}, headers=admin.headers
        )

    assert retried.status_code == 201, retried.text
    assert await stock(pool) == {"LOST": 0}
    assert backend_killer.pids, "the retry used no connection"
    assert backend_killer.killed[0] not in backend_killer.pids
    await _nothing_held(pool, postgres_url)


async def test_pooled_connections_killed_between_requests_are_replaced_unnoticed(
    container: Container,
    pool: Database,
    postgres_url: str,
    backend_killer: BackendKiller,
    killer: AsyncConnection,
    admin: Account,
) -> None:
    """A server restart or an idle-connection reaper kills connections that sit in the pool:
    the next request must not be the one that finds out."""
    async with reporting_client(create_app(container)) as client:
        item = await _create(client, admin, title="Survivor", sku="SURVIVOR", quantity=1)
        pooled = set(backend_killer.pids)
        assert pooled
        for pid in pooled:
            terminate = text("SELECT pg_terminate_backend(:pid, 10000)")
            assert (await killer.execute(terminate, {"pid": pid})).scalar_one() is True
        backend_killer.pids.clear()

        responses = [await bounded(client.get(f"/items/{item['id']}")) for _ in range(3)]

    assert [response.status_code for response in responses] == [200, 200, 200]
    assert responses[0].json()["sku"] == "SURVIVOR"
    # The reads run on the read port, outside any session: the pool's checkouts show them.
    assert backend_killer.pids, "the reads used no pooled connection"
    assert pooled.isdisjoint(backend_killer.pids)
    for pid in pooled:
        assert not await backend_exists(postgres_url, pid)
    await _nothing_held(pool, postgres_url)
