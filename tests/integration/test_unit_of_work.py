"""The SQLAlchemy unit of work against real SQLite and PostgreSQL.

Persistence is checked with plain SQL on a separate connection, so these tests do not trust
the ORM to tell them what the ORM did.
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.database import build_session_factory, checked_out
from adapters.orm import items
from domain.errors import DuplicateSku
from service_layer.services import items as services
from service_layer.sqlalchemy_unit_of_work import SqlAlchemyUnitOfWork
from service_layer.unit_of_work import UnitOfWorkError
from tests.factories import ItemFactory


def _uow(engine: AsyncEngine) -> SqlAlchemyUnitOfWork:
    return SqlAlchemyUnitOfWork(build_session_factory(engine))


async def _count(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(select(func.count()).select_from(items))).scalar_one())


async def _quantity(engine: AsyncEngine, sku: str) -> int:
    async with engine.connect() as connection:
        query = select(items.c.quantity).where(items.c.sku == sku)
        return int((await connection.execute(query)).scalar_one())


def _checked_out(engine: AsyncEngine) -> int:
    return checked_out(engine)


async def test_commit_persists(engine: AsyncEngine) -> None:
    uow = _uow(engine)
    async with uow:
        await uow.items.add(ItemFactory())
        await uow.commit()
    assert await _count(engine) == 1


async def test_leaving_without_commit_persists_nothing(engine: AsyncEngine) -> None:
    uow = _uow(engine)
    async with uow:
        await uow.items.add(ItemFactory())
        await uow.session.flush()  # the INSERT reached the database, inside the transaction
        assert _checked_out(engine) == 1
    assert await _count(engine) == 0
    assert _checked_out(engine) == 0


async def test_exception_rolls_back_propagates_and_releases_the_connection(
    engine: AsyncEngine,
) -> None:
    class Boom(Exception):
        pass

    uow = _uow(engine)

    async def add_then_fail() -> None:
        async with uow:
            await uow.items.add(ItemFactory())
            await uow.session.flush()
            raise Boom

    with pytest.raises(Boom):
        await add_then_fail()
    assert await _count(engine) == 0
    assert _checked_out(engine) == 0


async def test_session_is_closed_and_connection_returned_after_every_unit(
    engine: AsyncEngine,
) -> None:
    item = ItemFactory()
    uow = _uow(engine)
    async with uow:
        session = uow.session
        await uow.items.add(item)
        await uow.commit()
        await uow.items.list()  # a query: starts a second transaction after the commit
        assert session.in_transaction()
    assert not session.in_transaction()
    assert list(session.identity_map.values()) == []
    assert _checked_out(engine) == 0
    with pytest.raises(RuntimeError):
        _ = uow.session


async def test_objects_stay_readable_after_the_unit_without_io(engine: AsyncEngine) -> None:
    stored = ItemFactory()
    uow = _uow(engine)
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


async def test_uncommitted_work_is_invisible_to_another_unit_and_not_committed_by_it(
    engine: AsyncEngine,
) -> None:
    first, second = ItemFactory(), ItemFactory()
    writer, other = _uow(engine), _uow(engine)
    seen_by_other: list[str] = []

    async def other_unit() -> None:
        async with other:
            seen_by_other.extend(item.sku for item in await other.items.list())
            await other.items.add(second)
            await other.commit()

    async with writer:
        await writer.items.add(first)
        await writer.session.flush()
        # On PostgreSQL the other unit runs now; on SQLite it waits for the write lock.
        task = asyncio.create_task(other_unit())
        await asyncio.sleep(0.2)
    await task

    assert first.sku not in seen_by_other
    async with engine.connect() as connection:
        skus = set((await connection.execute(select(items.c.sku))).scalars())
    assert skus == {second.sku}


async def test_a_unit_cannot_be_entered_twice_at_once_but_can_be_reused(
    engine: AsyncEngine,
) -> None:
    uow = _uow(engine)

    async def nest() -> None:
        async with uow, uow:
            pass

    with pytest.raises(UnitOfWorkError):
        await nest()
    assert _checked_out(engine) == 0
    for _ in range(2):
        async with uow:
            await uow.items.add(ItemFactory())
            await uow.commit()
    assert await _count(engine) == 2


async def test_commit_outside_the_block_is_refused(engine: AsyncEngine) -> None:
    with pytest.raises(UnitOfWorkError):
        await _uow(engine).commit()


async def test_failed_commit_raises_domain_error_and_releases_the_connection(
    engine: AsyncEngine,
) -> None:
    uow = _uow(engine)
    async with uow:
        await uow.items.add(ItemFactory(sku="SAME"))
        await uow.commit()

    async def add_duplicate() -> None:
        async with uow:
            await uow.items.add(ItemFactory(sku="same"))
            await uow.commit()

    with pytest.raises(DuplicateSku):
        await add_duplicate()
    assert _checked_out(engine) == 0
    assert await _count(engine) == 1


async def test_cancelled_unit_returns_its_connection(engine: AsyncEngine) -> None:
    stored = ItemFactory()
    uow = _uow(engine)
    async with uow:
        await uow.items.add(stored)
        await uow.commit()
    inside = asyncio.Event()

    async def slow_request() -> None:
        async with _uow(engine) as unit:
            (await unit.items.get_for_update(stored.id)).restock(5)  # type: ignore[arg-type]
            inside.set()
            await asyncio.sleep(30)  # the client goes away while we hold a row lock
            await unit.commit()

    task = asyncio.create_task(slow_request())
    await inside.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for _ in range(50):  # the shielded close finishes on its own, right after
        if _checked_out(engine) == 0:
            break
        await asyncio.sleep(0.01)
    assert _checked_out(engine) == 0
    assert await _quantity(engine, stored.sku) == stored.quantity


async def test_concurrent_restocks_lose_no_update(engine: AsyncEngine) -> None:
    """30 writers on one row: on SQLite none sees "database is locked", on PostgreSQL the
    row lock serialises them; either way every increment lands."""
    stored = ItemFactory(quantity=0)
    uow = _uow(engine)
    async with uow:
        await uow.items.add(stored)
        await uow.commit()
    session_factory = build_session_factory(engine)

    await asyncio.gather(
        *(
            services.restock(SqlAlchemyUnitOfWork(session_factory), stored.id, 1)  # type: ignore[arg-type]
            for _ in range(30)
        )
    )
    assert await _quantity(engine, stored.sku) == 30


async def test_cancellation_while_closing_still_returns_the_connection(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second cancellation landing inside close() (a server shutting down, a timeout firing
    twice) must not abandon the connection half-returned."""
    from sqlalchemy.ext.asyncio import AsyncSession

    real_close = AsyncSession.close
    closing = asyncio.Event()

    async def slow_close(self: AsyncSession) -> None:
        closing.set()
        await asyncio.sleep(0.1)  # the window in which the cancellation lands
        await real_close(self)

    monkeypatch.setattr(AsyncSession, "close", slow_close)

    async def unit() -> None:
        async with _uow(engine) as uow:
            await uow.items.list()  # holds a connection

    task = asyncio.create_task(unit())
    await closing.wait()
    assert _checked_out(engine) == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.3)
    assert _checked_out(engine) == 0
