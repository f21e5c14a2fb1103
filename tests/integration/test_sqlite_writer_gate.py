"""SQLite units of work of one process queue for the write lock in asyncio, in arrival order.

Without the gate they would all wait inside SQLite's busy handler, which polls with sleeps of
up to 100 ms, so the order writers got in was luck and the slowest waited for seconds
(bench/README.md). With it: arrival order, at most one waiter per process at SQLite's level,
a timeout that ends in the same 503 error SQLite's busy timeout gives, and a gate that is let
go however the unit ends.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.database import build_engine, build_session_factory
from service_layer.errors import DatabaseUnavailable
from service_layer.sqlalchemy_unit_of_work import SqlAlchemyUnitOfWork
from tests.integration.failure_support import NO_HANG_SECONDS

BUSY_TIMEOUT_MS = 300


@pytest.fixture
async def engine(sqlite_engine: AsyncEngine, sqlite_url: str) -> AsyncIterator[AsyncEngine]:
    """The run's migrated SQLite file, on an engine with a short busy timeout."""
    engine = build_engine(sqlite_url, sqlite_busy_timeout_ms=BUSY_TIMEOUT_MS)
    yield engine
    await engine.dispose()


def unit(engine: AsyncEngine) -> SqlAlchemyUnitOfWork:
    return SqlAlchemyUnitOfWork(build_session_factory(engine))


async def test_writers_get_in_in_the_order_they_arrived(sqlite_url: str) -> None:
    # A patient engine: the order is what is tested here, not the timeout.
    engine = build_engine(sqlite_url, sqlite_busy_timeout_ms=int(NO_HANG_SECONDS * 1000))
    entered: list[int] = []
    inside = 0

    async def writer(number: int) -> None:
        nonlocal inside
        async with unit(engine):
            inside += 1
            assert inside == 1, "two units of one process were open at once"
            entered.append(number)
            await asyncio.sleep(0.002)
            inside -= 1

    tasks = []
    for number in range(20):
        tasks.append(asyncio.create_task(writer(number)))
        await asyncio.sleep(0)  # let it arrive before the next one
    try:
        await asyncio.wait_for(asyncio.gather(*tasks), NO_HANG_SECONDS)
    finally:
        await engine.dispose()

    assert entered == list(range(20))


async def test_a_writer_that_waits_past_the_busy_timeout_is_told_the_database_is_locked(
    engine: AsyncEngine,
) -> None:
    async with unit(engine):
        started = time.monotonic()
        with pytest.raises(DatabaseUnavailable, match="database is locked"):
            async with unit(engine):
                pytest.fail("entered while another unit of this process held the lock")
        waited = time.monotonic() - started
    assert BUSY_TIMEOUT_MS / 1000 * 0.9 <= waited < NO_HANG_SECONDS
    # Once the holder is gone, the next unit gets in at once.
    async with unit(engine):
        pass


async def test_the_gate_is_let_go_however_the_unit_ends(engine: AsyncEngine) -> None:
    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        async with unit(engine):
            raise Boom
    inside = asyncio.Event()
    inner = asyncio.create_task(_enter_and_wait(engine, inside))
    await asyncio.wait_for(inside.wait(), NO_HANG_SECONDS)
    inner.cancel()  # cancelled while inside: the gate is released on the way out
    with pytest.raises(asyncio.CancelledError):
        await inner
    async with asyncio.timeout(1):
        async with unit(engine):
            pass


async def _enter_and_wait(engine: AsyncEngine, inside: asyncio.Event | None = None) -> None:
    async with unit(engine):
        if inside is not None:
            inside.set()
        await asyncio.sleep(10)


# ---- across processes: the file lock ------------------------------------------------------
# Two engines on one file stand for two processes: each has its own gate and its own open
# file description, and flock locks of different descriptions exclude each other even within
# one process.


async def test_a_unit_of_another_process_waits_for_the_file_lock_and_gets_in_at_once(
    engine: AsyncEngine, sqlite_url: str
) -> None:
    other = build_engine(sqlite_url, sqlite_busy_timeout_ms=BUSY_TIMEOUT_MS * 10)
    try:
        entered = asyncio.Event()
        left_at = 0.0

        async def other_process() -> float:
            async with unit(other):
                entered.set()
                return time.monotonic()

        async with unit(engine):
            waiter = asyncio.create_task(other_process())
            await asyncio.sleep(0.1)
            assert not entered.is_set(), "got in while another process held the lock"
            left_at = time.monotonic()
        got_in_at = await asyncio.wait_for(waiter, NO_HANG_SECONDS)
        # Woken when the lock was let go, not at the end of its 3 s wait (with slack for a
        # loaded machine: the kernel wakes the waiting thread at once).
        assert got_in_at - left_at < 0.5
    finally:
        await other.dispose()


async def test_a_process_that_gave_up_waiting_does_not_keep_the_file_lock(
    engine: AsyncEngine, sqlite_url: str
) -> None:
    impatient = build_engine(sqlite_url, sqlite_busy_timeout_ms=100)
    third = build_engine(sqlite_url, sqlite_busy_timeout_ms=BUSY_TIMEOUT_MS)
    try:
        async with unit(engine):
            with pytest.raises(DatabaseUnavailable, match="database is locked"):
                async with unit(impatient):
                    pytest.fail("entered while another process held the lock")
        await asyncio.sleep(0.05)  # the abandoned wait gets the lock now, and must give it up
        async with unit(third):  # were the lock kept, this would fail after its 0.3 s
            pass
        async with unit(impatient):  # and the impatient one is not stuck either
            pass
    finally:
        await impatient.dispose()
        await third.dispose()


async def test_a_cancelled_waiter_leaves_the_file_lock_free(
    engine: AsyncEngine, sqlite_url: str
) -> None:
    other = build_engine(sqlite_url, sqlite_busy_timeout_ms=BUSY_TIMEOUT_MS * 10)
    try:
        async with unit(engine):
            waiter = asyncio.create_task(_enter_and_wait(other))
            await asyncio.sleep(0.05)
            waiter.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiter
        await asyncio.sleep(0.05)  # the abandoned wait gets the lock now, and must give it up
        async with asyncio.timeout(1):
            # First through another file description: had the cancelled waiter kept the lock
            # on its own, this would wait (its own engine would simply take it again).
            async with unit(engine):
                pass
            async with unit(other):
                pass
    finally:
        await other.dispose()


async def test_the_gate_works_again_after_the_engine_is_disposed(sqlite_url: str) -> None:
    """A disposed engine can be used again (SQLAlchemy's contract); so can its gate, whose
    lock file is closed on dispose and reopened at the next unit."""
    engine = build_engine(sqlite_url, sqlite_busy_timeout_ms=BUSY_TIMEOUT_MS)
    other = build_engine(sqlite_url, sqlite_busy_timeout_ms=BUSY_TIMEOUT_MS)
    try:
        async with unit(engine):
            pass
        await engine.dispose()
        async with unit(engine):  # reopened, and holding the file lock again...
            with pytest.raises(DatabaseUnavailable, match="database is locked"):
                async with unit(other):  # ...so another process still has to wait
                    pytest.fail("entered while another process held the lock")
    finally:
        await engine.dispose()
        await other.dispose()
