"""The suite's own primary + streaming replica does what the replica tests rely on: the
replica lags by the apply delay, catches up, refuses writes, and resumes after a restart."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from adapters.database import Database
from tests.integration.conftest import REPLICA_APPLY_DELAY_MS, ReplicatedDatabase
from tests.integration.replication import ReplicatedCluster

pytestmark = pytest.mark.postgres

ATTEMPTS = 3  # a sample counts only if it was read well within the apply delay


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture
async def replica(replicated_database: ReplicatedDatabase) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(_dsn(replicated_database.replica_url), timeout=10)
    yield connection
    await connection.close()


async def _insert_item(primary: Database) -> str:
    sku = f"REPL-{uuid.uuid4().hex[:12]}"
    async with primary.engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO items (sku, title, price_cents, quantity)"
                " VALUES (:sku, 'replicated', 100, 1)"
            ),
            {"sku": sku},
        )
    return sku


async def _on_replica(replica: asyncpg.Connection, sku: str) -> bool:
    return bool(await replica.fetchval("SELECT count(*) FROM items WHERE sku = $1", sku))


async def test_a_commit_reaches_the_replica_after_the_apply_delay(
    replicated_cluster: ReplicatedCluster,
    replicated_database: ReplicatedDatabase,
    replica: asyncpg.Connection,
) -> None:
    assert await replica.fetchval("SELECT pg_is_in_recovery()")
    await replicated_cluster.wait_for_replay()  # the last test's clean-up, and its locks
    within = REPLICA_APPLY_DELAY_MS / 1000 * 0.8
    for _ in range(ATTEMPTS):
        started = time.monotonic()  # before the commit, so elapsed bounds the replica's lag
        sku = await _insert_item(replicated_database.primary)
        seen_at_once = await _on_replica(replica, sku)
        if time.monotonic() - started < within:
            break
    else:
        pytest.fail(f"no insert and replica read completed within {within} s: machine too slow")
    assert not seen_at_once, "the replica showed a commit younger than its apply delay"

    started = time.monotonic()
    await replicated_cluster.wait_for_replay()
    waited = time.monotonic() - started

    assert await _on_replica(replica, sku)
    # Elapsed time is the behaviour here: a replica that lags by its apply delay, not more.
    assert waited < 10, f"catching up took {waited:.1f} s"


async def test_the_replica_refuses_writes(replica: asyncpg.Connection) -> None:
    with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
        await replica.execute(
            "INSERT INTO items (sku, title, price_cents, quantity)"
            " VALUES ('REPL-WRITE', 'refused', 100, 1)"
        )


async def test_a_stopped_replica_catches_up_once_started(
    replicated_cluster: ReplicatedCluster, replicated_database: ReplicatedDatabase
) -> None:
    replica_dsn = _dsn(replicated_database.replica_url)
    await replicated_cluster.stop_replica()
    try:
        with pytest.raises(ConnectionRefusedError):
            await asyncpg.connect(replica_dsn, timeout=5)
        sku = await _insert_item(replicated_database.primary)  # while the replica is down
    finally:
        await replicated_cluster.start_replica()

    await replicated_cluster.wait_for_replay()

    replica = await asyncpg.connect(replica_dsn, timeout=10)
    try:
        assert await replica.fetchval("SELECT pg_is_in_recovery()")
        assert await _on_replica(replica, sku)
        # And it streams again: a commit made now arrives too.
        later = await _insert_item(replicated_database.primary)
        await replicated_cluster.wait_for_replay()
        assert await _on_replica(replica, later)
    finally:
        await replica.close()
