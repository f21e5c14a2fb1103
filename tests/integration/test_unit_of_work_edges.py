"""The edges of the unit of work a careful reader tries (issue 22): each was a defect, and each
test failed on the code before the fix. On the fake, SQLite and PostgreSQL where it applies.

- A unit used after its block raises a clear error, and takes no connection.
- Two commits in one block work alike on every implementation.
- On SQLite, a cancelled close gives up the writer turn only once its ROLLBACK has run.
- On SQLite, a unit that only reads never waits for the writer turn.
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.exc import InvalidRequestError
from sqlalchemy.util import await_only

from adapters.database import Database
from domain.order import Order, OrderLine
from domain.user import Role, User
from service_layer.actor import Actor
from service_layer.services import orders as order_services
from service_layer.services import users as user_services
from service_layer.unit_of_work import UnitOfWorkError
from tests.factories import ItemFactory
from tests.integration.conftest import UowFactory
from tests.integration.failure_support import bounded
from tests.integration.units import unit_of_work


async def test_a_unit_used_after_its_block_raises_and_touches_nothing(
    uow_factory: UowFactory, storage: str, request: pytest.FixtureRequest
) -> None:
    stored = ItemFactory()
    uow = uow_factory()
    async with uow:
        await uow.items.add(stored)
        await uow.commit()

    with pytest.raises(UnitOfWorkError, match="outside 'async with uow'"):
        await uow.items.get_for_update(stored.id)  # type: ignore[arg-type]
    with pytest.raises(UnitOfWorkError):
        await uow.orders.list(customer_id=None)
    if storage != "fake":
        database: Database = request.getfixturevalue(f"{storage}_database")
        assert database.checked_out() == 0
    # The same unit opens again, with repositories of its own.
    async with uow:
        assert (await uow.items.get(stored.id)).sku == stored.sku  # type: ignore[arg-type]


async def test_a_repository_kept_past_the_block_takes_no_connection(database: Database) -> None:
    """On SQLite the next writer would otherwise find the database locked for good."""
    stored = ItemFactory()
    async with unit_of_work(database) as uow:
        await uow.items.add(stored)
        await uow.commit()
        kept = uow.items

    with pytest.raises(InvalidRequestError, match="permanently closed"):
        await kept.get_for_update(stored.id)  # type: ignore[arg-type]
    assert database.checked_out() == 0
    async with unit_of_work(database) as writer:  # the write lock is free
        (await writer.items.get_for_update(stored.id)).restock(1)  # type: ignore[arg-type]
        await writer.commit()


async def test_two_commits_in_one_block_each_make_their_work_durable(
    uow_factory: UowFactory,
) -> None:
    first, second = ItemFactory(quantity=1), ItemFactory(quantity=1)
    async with uow_factory() as uow:
        await uow.items.add(first)
        await uow.commit()
        await uow.items.add(second)
        (await uow.items.get(first.id)).restock(4)  # type: ignore[arg-type]
        await uow.commit()
        third_quantity = (await uow.items.get(second.id)).quantity  # type: ignore[arg-type]

    async with uow_factory() as uow:
        assert (await uow.items.get(first.id)).quantity == 5  # type: ignore[arg-type]
        assert (await uow.items.get(second.id)).quantity == 1  # type: ignore[arg-type]
    assert third_quantity == 1


async def test_a_second_commit_of_nothing_new_changes_nothing(uow_factory: UowFactory) -> None:
    stored = ItemFactory(quantity=2)
    async with uow_factory() as uow:
        await uow.items.add(stored)
        await uow.commit()
        await uow.commit()

    async with uow_factory() as uow:
        assert [item.id for item in await uow.items.list()] == [stored.id]


async def test_a_cancelled_close_gives_up_the_writer_turn_only_after_its_rollback(
    sqlite_database: Database,
) -> None:
    database = sqlite_database
    happened: list[str] = []
    closing = asyncio.Event()

    def slow_first_rollback(_connection: Connection) -> None:
        if "rollback begins" in happened:
            return
        happened.append("rollback begins")
        closing.set()
        # A slow ROLLBACK (a busy disk): it is on its way, and the event loop runs meanwhile.
        await_only(asyncio.sleep(0.2))
        happened.append("rollback runs")

    written = asyncio.Event()

    async def write_then_wait() -> None:
        async with unit_of_work(database) as uow:
            await uow.items.add(ItemFactory())
            await uow.session.flush()  # the write lock is held from here on
            written.set()
            await asyncio.Event().wait()  # until cancelled

    async def next_writer() -> None:
        async with unit_of_work(database) as uow:
            happened.append("next writer has its turn")
            await uow.items.list()

    event.listen(database.engine.sync_engine, "rollback", slow_first_rollback)
    try:
        first = asyncio.create_task(write_then_wait())
        await bounded(written.wait())
        first.cancel()  # out of its block: the close begins
        await bounded(closing.wait())
        first.cancel()  # and now its close too, mid-ROLLBACK (a client gone, a timeout)
        await bounded(next_writer())
        with pytest.raises(asyncio.CancelledError):
            await first
    finally:
        event.remove(database.engine.sync_engine, "rollback", slow_first_rollback)

    assert happened == ["rollback begins", "rollback runs", "next writer has its turn"]
    assert database.checked_out() == 0


async def test_on_sqlite_a_unit_that_only_reads_never_waits_for_the_writer(
    sqlite_database: Database,
) -> None:
    """A writer holds the turn (and SQLite's write lock) while an order and a user are read
    through units of their own: each reads from its snapshot, as on PostgreSQL."""
    database = sqlite_database
    async with unit_of_work(database) as uow:
        customer = User(email="reader@example.com", password_hash="x", role=Role.CUSTOMER)
        await uow.users.add(customer)
        item = ItemFactory(quantity=3)
        await uow.items.add(item)
        await uow.session.flush()
        line = OrderLine(item.id, item.sku, 1, item.price)  # type: ignore[arg-type]
        order = Order(customer_id=customer.id, lines=[line])  # type: ignore[arg-type]
        await uow.orders.add(order)
        await uow.commit()
    holding, release = asyncio.Event(), asyncio.Event()

    async def hold_the_turn() -> None:
        async with unit_of_work(database) as writer:
            await writer.items.list()
            holding.set()
            await release.wait()

    writer = asyncio.create_task(hold_the_turn())
    try:
        await holding.wait()
        actor = Actor(customer.id)  # type: ignore[arg-type]
        read = await bounded(
            order_services.get_order(unit_of_work(database), actor, order.id)  # type: ignore[arg-type]
        )
        listed = await bounded(order_services.list_orders(unit_of_work(database), actor))
        user = await bounded(
            user_services.get_user(unit_of_work(database), customer.id)  # type: ignore[arg-type]
        )
        assert not writer.done(), "the writer still holds its turn: nobody waited for it"
    finally:
        release.set()
        await writer
    assert (read.id, [found.id for found in listed.rows], user.email) == (
        order.id,
        [order.id],
        "reader@example.com",
    )


async def test_a_unit_that_only_reads_cannot_commit(uow_factory: UowFactory) -> None:
    async with uow_factory().reading() as uow:
        with pytest.raises(UnitOfWorkError, match="reading"):
            await uow.commit()
