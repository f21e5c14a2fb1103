"""Replica faults against the suite's own primary + streaming replica (``replicated_cluster``),
through the read port as the container builds it with replicas (``replica_reads`` over the
primary's reader), with a check every second as readiness runs one in the app:

- a replica hung (every process SIGSTOPped, as a host that stops answering) leaves rotation
  within about a second, no read fails or waits much longer than that, and it comes back;
- replication broken for twice the lag bound (no WAL receiver, or a receiver that receives
  nothing) never serves a tokenless read staler than ``max_lag``, reports the replica lagging,
  and recovers;
- a check and a read on a hung replica keep their deadline, on either driver.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import text

from adapters.database import Database
from adapters.pool import PoolSettings
from adapters.postgres import Pooler
from adapters.reads import SqlAlchemyReads
from adapters.replicas import ReplicaSet, replica_reads, replica_set
from tests.integration.conftest import ReplicatedDatabase
from tests.integration.replication import ReplicatedCluster
from tests.polling import eventually

pytestmark = pytest.mark.postgres

MAX_LAG = 5.0  # STOCKROOM_REPLICA_MAX_LAG's default
HUNG_SECONDS = 8.0  # the scenario
# Twice the lag bound: long enough for a replica that receives nothing to fall past it (the
# issue's 20 s run in the topology: tests/integration/test_availability.py).
BROKEN_SECONDS = 2 * MAX_LAG
WRITE_EVERY = 0.5
READ_PAUSE = 0.02  # between one reader's reads: steady load without a busy loop
# The replica's deadline is 1 s (adapters/replicas.DEADLINE_SECONDS); the bounds leave room
# for the read then made on the primary and for a busy machine, and are far below what a
# deadline that does not hold gives: a wait until the replica is continued, or psycopg's 10 s
# of cancel requests. Elapsed time is the behaviour under test here.
WITHIN_ABOUT_A_SECOND = 3.0
# A read or a check that does not hold its deadline fails the test after this, not hangs it.
HANG_GUARD = 10.0
# How long a recovery may take: the check every second, and catching up with the apply delay.
RECOVERS_WITHIN = 30.0


def _served(source: str) -> float:
    value = REGISTRY.get_sample_value("stockroom_reads_served_total", {"source": source})
    return value or 0.0


@dataclass
class Replicated:
    cluster: ReplicatedCluster
    primary: Database
    replicas: ReplicaSet
    reads: SqlAlchemyReads

    def status(self) -> str:
        return self.replicas.statuses()["replica 1"]

    async def new_item(self) -> int:
        sku = f"F-{uuid.uuid4().hex[:10]}"
        async with self.primary.engine.begin() as connection:
            found = await connection.execute(
                text(
                    "INSERT INTO items (sku, title, price_cents, quantity)"
                    " VALUES (:sku, 'fault', 100, 0) RETURNING id"
                ),
                {"sku": sku},
            )
            return int(found.scalar_one())

    async def served_by_the_replica(self, reads: int = 20) -> None:
        """Wait until ``reads`` more reads of the running load went to the replica."""
        before = _served("replica 1")
        await eventually(lambda: _served("replica 1") >= before + reads, RECOVERS_WITHIN)


async def _keep_checking(replicas: ReplicaSet) -> None:
    while True:  # what entrypoints/api/readiness.py does in every worker
        await asyncio.sleep(1.0)
        await replicas.check_all(within=1.0)


@pytest.fixture(params=[Pooler.NONE])
async def replicated(
    request: pytest.FixtureRequest,
    replicated_database: ReplicatedDatabase,
    replicated_cluster: ReplicatedCluster,
) -> AsyncIterator[Replicated]:
    # The previous test's clean-up reaches the replica 500 ms late, holding its tables' locks.
    await replicated_cluster.wait_for_replay()
    pooler: Pooler = request.param
    replicas = replica_set(
        [replicated_database.replica_url],
        PoolSettings(size=5),
        pooler,
        echo=False,
        max_lag=MAX_LAG,
        wait=0.1,
        primary=replicated_database.primary.reader,
    )
    reads = replica_reads(replicas)
    checking = asyncio.create_task(_keep_checking(replicas))
    try:
        yield Replicated(replicated_cluster, replicated_database.primary, replicas, reads)
    finally:
        checking.cancel()
        await asyncio.gather(checking, return_exceptions=True)
        pool = replicas.replicas[0].engine.pool
        await replicas.dispose()
    assert pool.checkedout() == 0, "a replica connection was left checked out"


@dataclass
class ReadLog:
    seen: list[tuple[float, int]] = field(default_factory=list)  # (started at, quantity)
    durations: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


async def _keep_reading(
    reads: SqlAlchemyReads, item_id: int, stop: asyncio.Event, log: ReadLog
) -> None:
    while not stop.is_set():
        started = time.monotonic()
        try:
            item = await reads.item(item_id)
        except Exception as error:
            log.failures.append(repr(error))
        else:
            assert item is not None
            log.seen.append((started, item.quantity))
        log.durations.append(time.monotonic() - started)
        await asyncio.sleep(READ_PAUSE)


def _readers(
    replicated: Replicated, item_id: int, stop: asyncio.Event, log: ReadLog
) -> list[asyncio.Task[None]]:
    return [
        asyncio.create_task(_keep_reading(replicated.reads, item_id, stop, log)) for _ in range(4)
    ]


async def test_a_hung_replica_leaves_rotation_within_a_second_and_no_read_fails(
    replicated: Replicated,
) -> None:
    item_id = await replicated.new_item()
    await replicated.cluster.wait_for_replay()
    await eventually(lambda: replicated.status() == "ok")
    stop, log = asyncio.Event(), ReadLog()
    readers = _readers(replicated, item_id, stop, log)
    try:
        await replicated.served_by_the_replica()
        with replicated.cluster.replica_hung():
            hung_at = time.monotonic()
            await eventually(lambda: replicated.status() == "down")
            left_after = time.monotonic() - hung_at
            on_primary = _served("primary")
            await asyncio.sleep(hung_at + HUNG_SECONDS - time.monotonic())  # the fault lasts
            read_on_primary = _served("primary") - on_primary
        continued_at = time.monotonic()
        await eventually(lambda: replicated.status() == "ok", RECOVERS_WITHIN)
        back_after = time.monotonic() - continued_at
        await replicated.served_by_the_replica()
    finally:
        stop.set()
        await asyncio.gather(*readers)

    longest = max(log.durations)
    print(  # the figures for the record (pytest -s)
        f"\nhung replica: out of rotation after {left_after:.2f} s, longest read {longest:.2f} s"
        f" of {len(log.durations)}, back {back_after:.2f} s after SIGCONT"
    )
    assert log.failures == [], log.failures[:5]
    assert left_after <= WITHIN_ABOUT_A_SECOND
    assert longest <= WITHIN_ABOUT_A_SECOND
    assert read_on_primary > 0, "no read went to the primary while the replica hung"


def _worst_staleness(log: ReadLog, committed: dict[int, float]) -> float:
    """The oldest commit a read missed, in seconds before the read began: for a read that saw
    marker ``n``, marker ``n + 1`` was committed then and the read does not show it (0 when
    every read showed all that was committed before it began)."""
    missed = [
        started - committed[seen + 1]
        for started, seen in log.seen
        if seen + 1 in committed and committed[seen + 1] < started
    ]
    return max(missed, default=0.0)


async def _write_markers(primary: Database, item_id: int, committed: dict[int, float]) -> None:
    """Marker ``n``: the item's quantity set to ``n`` on the primary, every half second."""
    for marker in range(1, 1_000_000):
        async with primary.engine.begin() as connection:
            await connection.execute(
                text("UPDATE items SET quantity = :n WHERE id = :id"), {"n": marker, "id": item_id}
            )
        committed[marker] = time.monotonic()
        await asyncio.sleep(WRITE_EVERY)


def _breaking(cluster: ReplicatedCluster, how: str) -> AbstractAsyncContextManager[None]:
    return cluster.replication_cut() if how == "no receiver" else cluster.receiver_stalled()


@pytest.mark.parametrize("how", ["no receiver", "receiver stalled"])
async def test_broken_replication_never_serves_a_read_staler_than_max_lag(
    replicated: Replicated, how: str
) -> None:
    item_id = await replicated.new_item()
    await replicated.cluster.wait_for_replay()
    await eventually(lambda: replicated.status() == "ok")
    committed: dict[int, float] = {}
    writer = asyncio.create_task(_write_markers(replicated.primary, item_id, committed))
    stop, log = asyncio.Event(), ReadLog()
    readers = _readers(replicated, item_id, stop, log)
    try:
        await replicated.served_by_the_replica()
        async with _breaking(replicated.cluster, how):
            broken_at = time.monotonic()
            # Lagging at once without a receiver; a stalled one, once max_lag has passed.
            await eventually(lambda: replicated.status().startswith("lagging"), MAX_LAG + 5)
            reported_after = time.monotonic() - broken_at
            await asyncio.sleep(broken_at + BROKEN_SECONDS - time.monotonic())  # the fault lasts
        await eventually(lambda: replicated.status() == "ok", RECOVERS_WITHIN)
        await replicated.served_by_the_replica()
    finally:
        stop.set()
        writer.cancel()
        await asyncio.gather(*readers, writer, return_exceptions=True)

    worst = _worst_staleness(log, committed)
    print(
        f"\nreplication broken ({how}): lagging reported after {reported_after:.2f} s,"
        f" worst staleness of {len(log.seen)} reads {worst:.2f} s (limit {MAX_LAG} s)"
    )
    assert log.failures == [], log.failures[:5]
    assert len(committed) >= BROKEN_SECONDS / WRITE_EVERY / 2, "the writes hardly ran"
    assert worst <= MAX_LAG
    if how == "no receiver":  # out at the next check, not once max_lag has passed
        assert reported_after <= WITHIN_ABOUT_A_SECOND


@pytest.mark.parametrize(
    "replicated",
    [Pooler.NONE, Pooler.TRANSACTION],  # asyncpg, and psycopg as behind a transaction pooler
    indirect=True,
    ids=["asyncpg", "psycopg"],
)
async def test_a_check_and_a_read_on_a_hung_replica_keep_their_deadline(
    replicated: Replicated,
) -> None:
    item_id = await replicated.new_item()
    await replicated.cluster.wait_for_replay()
    await replicated.replicas.check_all(within=1.0)
    assert replicated.status() == "ok"
    with replicated.cluster.replica_hung():
        # Checked a moment ago and fine: the read goes to the replica, which does not answer.
        started = time.monotonic()
        async with asyncio.timeout(HANG_GUARD):
            item = await replicated.reads.item(item_id)
        read_took = time.monotonic() - started
        started = time.monotonic()
        async with asyncio.timeout(HANG_GUARD):
            await replicated.replicas.check_all(within=1.0)
        check_took = time.monotonic() - started
        status = replicated.status()
    await eventually(lambda: replicated.status() == "ok", RECOVERS_WITHIN)

    print(f"\nhung replica: a read took {read_took:.2f} s, a check {check_took:.2f} s")
    assert item is not None, "the read was not answered by the primary"
    assert read_took <= WITHIN_ABOUT_A_SECOND
    assert check_took <= WITHIN_ABOUT_A_SECOND
    assert status == "down"
