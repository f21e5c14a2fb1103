"""The SQLAlchemy unit of work against real SQLite and PostgreSQL.

Persistence is checked with plain SQL on a separate connection, so these tests do not trust
the ORM to tell them what the ORM did.
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest
from sqlalchemy import event, func, select

from adapters.database import Database
from adapters.orm import items
from adapters.unit_of_work import SqlAlchemyUnitOfWork
from domain.errors import DuplicateSku
from service_layer.errors import DatabaseUnavailable, TransientConflict
from service_layer.services import items as services
from service_layer.unit_of_work import UnitOfWorkError
from tests.factories import ItemFactory
from tests.integration.failure_support import (
    assert_nothing_holds_the_database,
    hookable_session_class,
    stock,
)
from tests.integration.units import reads_of, unit_of_work
from tests.polling import eventually


def _uow(database: Database) -> SqlAlchemyUnitOfWork:
    return unit_of_work(database)


async def _count(database: Database) -> int:
    async with database.engine.connect() as connection:
        return int((await connection.execute(select(func.count()).select_from(items))).scalar_one())


async def _quantity(database: Database, sku: str) -> int:
    async with database.engine.connect() as connection:
        query = select(items.c.quantity).where(items.c.sku == sku)
        return int((await connection.execute(query)).scalar_one())


async def test_commit_persists(database: Database) -> None:
    uow = _uow(database)
    async with uow:
        await uow.items.add(ItemFactory())
        await uow.commit()
    assert await _count(database) == 1


async def test_leaving_without_commit_persists_nothing(database: Database) -> None:
    uow = _uow(database)
    async with uow:
        await uow.items.add(ItemFactory())
        await uow.session.flush()  # the INSERT reached the database, inside the transaction
        assert database.checked_out() == 1
    assert await _count(database) == 0
    assert database.checked_out() == 0


async def test_exception_rolls_back_propagates_and_releases_the_connection(
    database: Database,
) -> None:
    class Boom(Exception):
        pass

    uow = _uow(database)

    async def add_then_fail() -> None:
        async with uow:
            await uow.items.add(ItemFactory())
            await uow.session.flush()
            raise Boom

    with pytest.raises(Boom):
        await add_then_fail()
    assert await _count(database) == 0
    assert database.checked_out() == 0


async def test_session_is_closed_and_connection_returned_after_every_unit(
    database: Database,
) -> None:
    item = ItemFactory()
    uow = _uow(database)
    async with uow:
        session = uow.session
        await uow.items.add(item)
        await uow.commit()
        await uow.items.list()  # a query: starts a second transaction after the commit
        assert session.in_transaction()
    assert not session.in_transaction()
    assert list(session.identity_map.values()) == []
    assert database.checked_out() == 0
    with pytest.raises(RuntimeError, match="not open"):
        _ = uow.session


async def test_objects_stay_readable_after_the_unit_without_io(database: Database) -> None:
    stored = ItemFactory()
    uow = _uow(database)
    async with uow:
        await uow.items.add(stored)
        await uow.commit()
    async with uow:
        loaded = await uow.items.get(stored.id)  # type: ignore[arg-type]
    # The session is closed: any lazy load here would raise DetachedInstanceError.
    assert (loaded.sku, loaded.title, loaded.price, loaded.quantity) == (
        stored.sku,
        stored.title,
        stored.price,
        stored.quantity,
    )


async def test_uncommitted_work_is_not_committed_by_another_unit(database: Database) -> None:
    """Another unit that commits while ours is open (PostgreSQL), or right after it (SQLite,
    where units take turns), commits its own work only."""
    first, second = ItemFactory(), ItemFactory()

    async def other_unit() -> None:
        async with _uow(database) as other:
            await other.items.add(second)
            await other.commit()

    async with _uow(database) as writer:
        await writer.items.add(first)
        await writer.session.flush()
        task = asyncio.create_task(other_unit())
        if database.dialect == "postgresql":
            await asyncio.wait_for(asyncio.shield(task), 10)  # done while ours is open
    await task

    async with database.engine.connect() as connection:
        skus = set((await connection.execute(select(items.c.sku))).scalars())
    assert skus == {second.sku}


@pytest.mark.postgres
async def test_uncommitted_work_is_invisible_to_a_concurrent_unit(
    postgres_database: Database,
) -> None:
    first = ItemFactory()
    seen_by_other: list[str] = []

    async def other_unit() -> None:
        async with _uow(postgres_database) as other:
            seen_by_other.extend(item.sku for item in await other.items.list())

    async with _uow(postgres_database) as writer:
        await writer.items.add(first)
        await writer.session.flush()  # the INSERT reached the database, inside our transaction
        await asyncio.wait_for(other_unit(), 10)  # it reads while our work is in progress

    assert seen_by_other == []


async def test_a_unit_cannot_be_entered_twice_at_once_but_can_be_reused(
    database: Database,
) -> None:
    uow = _uow(database)

    async def nest() -> None:
        async with uow, uow:
            pass

    with pytest.raises(UnitOfWorkError):
        await nest()
    assert database.checked_out() == 0
    for _ in range(2):
        async with uow:
            await uow.items.add(ItemFactory())
            await uow.commit()
    assert await _count(database) == 2


async def test_commit_outside_the_block_is_refused(database: Database) -> None:
    with pytest.raises(UnitOfWorkError):
        await _uow(database).commit()


async def test_failed_commit_raises_domain_error_and_releases_the_connection(
    database: Database,
) -> None:
    uow = _uow(database)
    async with uow:
        await uow.items.add(ItemFactory(sku="SAME"))
        await uow.commit()

    async def add_duplicate() -> None:
        async with uow:
            await uow.items.add(ItemFactory(sku="same"))
            await uow.commit()

    with pytest.raises(DuplicateSku):
        await add_duplicate()
    assert database.checked_out() == 0
    assert await _count(database) == 1


async def test_cancelled_unit_returns_its_connection(database: Database) -> None:
    stored = ItemFactory()
    uow = _uow(database)
    async with uow:
        await uow.items.add(stored)
        await uow.commit()
    inside = asyncio.Event()

    async def slow_request() -> None:
        async with _uow(database) as unit:
            (await unit.items.get_for_update(stored.id)).restock(5)  # type: ignore[arg-type]
            inside.set()
            # Holds the row lock (makes the situation): the client goes away meanwhile.
            await asyncio.sleep(30)
            await unit.commit()

    task = asyncio.create_task(slow_request())
    await inside.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await eventually(lambda: database.checked_out() == 0)  # the shielded close finishes on its own
    assert await _quantity(database, stored.sku) == stored.quantity


async def test_concurrent_restocks_lose_no_update(database: Database) -> None:
    """30 writers on one row: on SQLite none sees "database is locked", on PostgreSQL the
    row lock serialises them; either way every increment lands."""
    stored = ItemFactory(quantity=0)
    uow = _uow(database)
    async with uow:
        await uow.items.add(stored)
        await uow.commit()
    await asyncio.gather(
        *(
            services.restock(unit_of_work(database), stored.id, 1)  # type: ignore[arg-type]
            for _ in range(30)
        )
    )
    assert await _quantity(database, stored.sku) == 30


async def test_cancellation_while_closing_still_returns_the_connection(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second cancellation landing inside close() (a server shutting down, a timeout firing
    twice) must not abandon the connection half-returned."""
    from sqlalchemy.ext.asyncio import AsyncSession

    real_close = AsyncSession.close
    closing, cancelled = asyncio.Event(), asyncio.Event()

    async def slow_close(self: AsyncSession) -> None:
        closing.set()
        await cancelled.wait()  # the cancellation lands while close() is under way
        await real_close(self)

    monkeypatch.setattr(AsyncSession, "close", slow_close)

    async def unit() -> None:
        async with _uow(database) as uow:
            await uow.items.list()  # holds a connection

    task = asyncio.create_task(unit())
    await closing.wait()
    assert database.checked_out() == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert database.checked_out() == 1  # the close goes on, shielded from the cancellation
    cancelled.set()
    await eventually(lambda: database.checked_out() == 0)


async def test_flushed_but_uncommitted_work_is_invisible_to_the_read_port(
    database: Database,
) -> None:
    stored = ItemFactory(quantity=4)
    async with _uow(database) as uow:
        await uow.items.add(stored)
        await uow.commit()
    async with _uow(database) as uow:
        (await uow.items.get(stored.id)).restock(10)  # type: ignore[arg-type]
        await uow.session.flush()  # the UPDATE reached the database, inside the transaction
        seen_meanwhile = await reads_of(database).item(stored.id)  # type: ignore[arg-type]
    assert seen_meanwhile is not None
    assert seen_meanwhile.quantity == 4


# --- regressions: failures around COMMIT -----------------------------------------------------


class Interruption(BaseException):
    """Not an ``Exception``: like KeyboardInterrupt or SystemExit, it must never be swallowed."""


@pytest.mark.parametrize("interruption", [asyncio.CancelledError, Interruption])
async def test_an_interruption_after_commit_propagates_and_the_write_stands(
    own_pool: Database, interruption: type[BaseException]
) -> None:
    session_class = hookable_session_class()
    fired: list[str] = []

    def interrupt(_session: object) -> None:
        fired.append("after commit")
        raise interruption()

    event.listen(session_class, "after_commit", interrupt)
    stored = ItemFactory(sku="STANDS-1")
    went_on = False

    async def write() -> None:
        nonlocal went_on
        async with unit_of_work(own_pool, session_class=session_class) as uow:
            await uow.items.add(stored)
            await uow.commit()
            went_on = True

    with pytest.raises(interruption):
        await write()

    assert fired == ["after commit"]
    assert not went_on, "commit() returned as if nothing had happened"
    assert await stock(own_pool) == {"STANDS-1": stored.quantity}
    await assert_nothing_holds_the_database(own_pool)


def _failing_commit(dialect_name: str, dbapi: Any) -> tuple[Exception, type[Exception]]:
    """A driver error for the COMMIT, and the service-layer error it stands for."""
    if dialect_name == "postgresql":
        cause = asyncpg.exceptions.SerializationError("could not serialize access")
        return dbapi.OperationalError("could not serialize access", cause), TransientConflict
    return dbapi.OperationalError("database is locked"), DatabaseUnavailable


async def test_commit_raises_the_classified_error_inside_the_block_and_exit_keeps_it(
    own_pool: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Classified once: the error ``commit()`` raises inside the block is the one that leaves
    it, the same object, not classified again on the way out."""
    dialect = own_pool.engine.sync_engine.dialect
    driver_error, expected = _failing_commit(own_pool.dialect, dialect.loaded_dbapi)

    def failing_commit(_dbapi_connection: object) -> None:
        raise driver_error

    monkeypatch.setattr(dialect, "do_commit", failing_commit)
    raised_inside: list[BaseException] = []

    async def write() -> None:
        async with _uow(own_pool) as uow:
            await uow.items.add(ItemFactory(sku="NEVER-1"))
            try:
                await uow.commit()
            except BaseException as error:
                raised_inside.append(error)
                raise

    with pytest.raises(expected) as left:
        await write()

    assert [type(error) for error in raised_inside] == [expected]
    assert left.value is raised_inside[0]
    assert left.value.__cause__ is not None
    assert left.value.__cause__.orig is driver_error  # type: ignore[attr-defined]
    monkeypatch.undo()
    assert await stock(own_pool) == {}
    await assert_nothing_holds_the_database(own_pool)
