"""SQLite units of work of one process queue for the write lock in asyncio, in arrival order.

Without the queue they would all wait inside SQLite's busy handler, which polls with sleeps of
up to 100 ms, so the order writers got in was luck and the slowest waited for seconds
(docs/session-lifecycle.md). With it: arrival order, at most one waiter per process at
SQLite's level, a timeout that ends in the same 503 error SQLite's busy timeout gives, and a
queue that is let go however the unit ends.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from adapters.database import Database
from adapters.sqlite_writer_queue import WriterQueue
from adapters.unit_of_work import SqlAlchemyUnitOfWork
from service_layer.errors import DatabaseUnavailable
from tests.integration.failure_support import NO_HANG_SECONDS
from tests.integration.units import unit_of_work
from tests.polling import eventually

BUSY_TIMEOUT_MS = 300


@pytest.fixture
async def database(sqlite_database: Database, sqlite_url: str) -> AsyncIterator[Database]:
    """The run's migrated SQLite file, on a database object with a short busy timeout."""
    database = Database(sqlite_url, sqlite_busy_timeout_ms=BUSY_TIMEOUT_MS)
    yield database
    await database.dispose()


def unit(database: Database) -> SqlAlchemyUnitOfWork:
    return unit_of_work(database)


def queue(database: Database) -> WriterQueue:
    assert database.writer_queue is not None, "every SQLite database has a writer queue"
    return database.writer_queue


async def test_writers_get_in_in_the_order_they_arrived(sqlite_url: str) -> None:
    # A patient database: the order is what is tested here, not the timeout.
    database = Database(sqlite_url, sqlite_busy_timeout_ms=int(NO_HANG_SECONDS * 1000))
    entered: list[int] = []
    inside = 0

    async def writer(number: int) -> None:
        nonlocal inside
        async with unit(database):
            inside += 1
            assert inside == 1, "two units of one process were open at once"
            entered.append(number)
            await asyncio.sleep(0.002)  # holds it (makes the situation): the others must queue
            inside -= 1

    tasks = []
    for number in range(20):
        tasks.append(asyncio.create_task(writer(number)))
        await asyncio.sleep(0)  # one turn of the loop, not a wait: it arrives before the next
    try:
        await asyncio.wait_for(asyncio.gather(*tasks), NO_HANG_SECONDS)
    finally:
        await database.dispose()

    assert entered == list(range(20))


async def test_a_writer_that_waits_past_the_busy_timeout_is_told_the_database_is_locked(
    database: Database,
) -> None:
    async with unit(database):
        started = time.monotonic()
        with pytest.raises(DatabaseUnavailable, match="database is locked"):
            async with unit(database):
                pytest.fail("entered while another unit of this process held the lock")
        waited = time.monotonic() - started
    # Elapsed time is the behaviour: the writer waits the busy timeout, then gives up.
    assert BUSY_TIMEOUT_MS / 1000 * 0.9 <= waited < NO_HANG_SECONDS
    # Once the holder is gone, the next unit gets in at once.
    async with unit(database):
        pass


async def test_the_queue_is_let_go_however_the_unit_ends(database: Database) -> None:
    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        async with unit(database):
            raise Boom
    inside = asyncio.Event()
    inner = asyncio.create_task(_enter_and_wait(database, inside))
    await asyncio.wait_for(inside.wait(), NO_HANG_SECONDS)
    inner.cancel()  # cancelled while inside: the queue is let go on the way out
    with pytest.raises(asyncio.CancelledError):
        await inner
    async with asyncio.timeout(1):
        async with unit(database):
            pass


async def _enter_and_wait(database: Database, inside: asyncio.Event | None = None) -> None:
    async with unit(database):
        if inside is not None:
            inside.set()
        await asyncio.sleep(10)  # holds the unit open (makes the situation) until cancelled


# ---- across processes: the file lock ------------------------------------------------------
# Two database objects on one file stand for two processes: each has its own queue and its own
# open file description, and flock locks of different descriptions exclude each other even within
# one process.


async def test_a_unit_of_another_process_waits_for_the_file_lock_and_gets_in_at_once(
    database: Database, sqlite_url: str
) -> None:
    other = Database(sqlite_url, sqlite_busy_timeout_ms=BUSY_TIMEOUT_MS * 10)
    try:
        entered = asyncio.Event()
        left_at = 0.0

        async def other_process() -> float:
            async with unit(other):
                entered.set()
                return time.monotonic()

        async with unit(database):
            waiter = asyncio.create_task(other_process())
            await eventually(lambda: queue(other).waiting_for_other_processes)
            assert not entered.is_set(), "got in while another process held the lock"
            left_at = time.monotonic()
        got_in_at = await asyncio.wait_for(waiter, NO_HANG_SECONDS)
        # Woken when the lock was let go, not at the end of its 3 s wait (with slack for a
        # loaded machine: the kernel wakes the waiting thread at once). Elapsed time is the
        # behaviour: a waiter polling the lock would get in too, only later.
        assert got_in_at - left_at < 0.5
    finally:
        await other.dispose()


async def test_a_process_that_gave_up_waiting_does_not_keep_the_file_lock(
    database: Database, sqlite_url: str
) -> None:
    impatient = Database(sqlite_url, sqlite_busy_timeout_ms=100)
    third = Database(sqlite_url, sqlite_busy_timeout_ms=BUSY_TIMEOUT_MS)
    try:
        async with unit(database):
            with pytest.raises(DatabaseUnavailable, match="database is locked"):
                async with unit(impatient):
                    pytest.fail("entered while another process held the lock")
        await queue(impatient).drained()  # the abandoned wait got the lock, and gave it up
        async with unit(third):  # were the lock kept, this would fail after its 0.3 s
            pass
        async with unit(impatient):  # and the impatient one is not stuck either
            pass
    finally:
        await impatient.dispose()
        await third.dispose()


async def test_a_cancelled_waiter_leaves_the_file_lock_free(
    database: Database, sqlite_url: str
) -> None:
    other = Database(sqlite_url, sqlite_busy_timeout_ms=BUSY_TIMEOUT_MS * 10)
    try:
        async with unit(database):
            waiter = asyncio.create_task(_enter_and_wait(other))
            await eventually(lambda: queue(other).waiting_for_other_processes)
            waiter.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiter
        await queue(other).drained()  # the abandoned wait got the lock, and gave it up
        async with asyncio.timeout(1):
            # First through another file description: had the cancelled waiter kept the lock
            # on its own, this would wait (its own queue would simply take it again).
            async with unit(database):
                pass
            async with unit(other):
                pass
    finally:
        await other.dispose()


async def test_the_queue_works_again_after_the_database_is_disposed(sqlite_url: str) -> None:
    """A disposed database can be used again (as SQLAlchemy's engines can); so can its queue."""
    database = Database(sqlite_url, sqlite_busy_timeout_ms=BUSY_TIMEOUT_MS)
    other = Database(sqlite_url, sqlite_busy_timeout_ms=BUSY_TIMEOUT_MS)
    try:
        async with unit(database):
            pass
        await database.dispose()
        async with unit(database):  # reopened, and holding the file lock again...
            with pytest.raises(DatabaseUnavailable, match="database is locked"):
                async with unit(other):  # ...so another process still has to wait
                    pytest.fail("entered while another process held the lock")
    finally:
        await database.dispose()
        await other.dispose()
