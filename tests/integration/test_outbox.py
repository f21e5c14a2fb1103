"""The unit of work writes its aggregates' events into the outbox, in the commit's transaction:
on the fake, SQLite, PostgreSQL and through PgBouncer (one contract, ``uow_factory``).

What a committed change wrote, read back by a later unit: exactly its events, with the ids the
database gave; what did not commit (an exception in the block, a failed COMMIT): none.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from domain.errors import DuplicateSku
from domain.order import LineRequest, Order
from domain.user import Role, User
from service_layer.actor import Actor
from service_layer.outbox import OutboxMessage
from service_layer.services import items as item_services
from service_layer.services import orders as order_services
from service_layer.services.catalog_import import import_catalog
from service_layer.services.import_lines import SourceLine
from service_layer.unit_of_work import AbstractUnitOfWork
from tests.factories import ItemFactory
from tests.integration.conftest import UowFactory


async def _outbox(uow_factory: UowFactory) -> list[OutboxMessage]:
    async with uow_factory() as uow:
        return list(await uow.outbox.undispatched(limit=1000))


async def _customer(uow_factory: UowFactory) -> Actor:
    user = User(email="buyer@example.com", password_hash="$argon2id$stand-in", role=Role.CUSTOMER)
    async with uow_factory() as uow:
        await uow.users.add(user)
        await uow.commit()
    assert user.id is not None
    return Actor(user.id)


async def _shelf(uow_factory: UowFactory, **quantities: int) -> dict[str, int]:
    """Items built directly (no ``Item.create``): they record no event of their own."""
    stored = {
        sku: ItemFactory(sku=sku, price=Decimal("2.50"), quantity=quantity)
        for sku, quantity in quantities.items()
    }
    async with uow_factory() as uow:
        for item in stored.values():
            await uow.items.add(item)
        await uow.commit()
    return {sku: item.id for sku, item in stored.items()}  # type: ignore[misc]


async def test_a_committed_order_writes_exactly_its_events(uow_factory: UowFactory) -> None:
    actor = await _customer(uow_factory)
    ids = await _shelf(uow_factory, PLENTY=50, SCARCE=6)
    assert await _outbox(uow_factory) == []

    order = await order_services.place_order(
        uow_factory(),
        actor,
        [LineRequest("PLENTY", 2), LineRequest("SCARCE", 3)],
        low_stock_threshold=5,
    )

    placed, low = await _outbox(uow_factory)
    assert (placed.type, placed.subject) == ("order.placed", f"orders/{order.id}")
    assert placed.data == {
        "id": order.id,
        "customer_id": actor.user_id,
        "lines": [
            {"item_id": ids["PLENTY"], "sku": "PLENTY", "quantity": 2, "unit_price": "2.50"},
            {"item_id": ids["SCARCE"], "sku": "SCARCE", "quantity": 3, "unit_price": "2.50"},
        ],
        "total": "12.50",
    }
    # Only the item the sale left at or below the threshold (3 <= 5; PLENTY has 48).
    assert (low.type, low.subject) == ("stock.low", f"items/{ids['SCARCE']}")
    assert low.data == {
        "id": ids["SCARCE"],
        "sku": "SCARCE",
        "title": low.data["title"],
        "quantity": 3,
        "threshold": 5,
    }
    assert placed.position is not None
    assert low.position is not None
    assert placed.position < low.position
    assert placed.id != low.id
    assert len(placed.id) == 36
    assert placed.occurred_at.tzinfo is not None


async def test_a_row_no_handler_takes_is_written_dispatched(uow_factory: UowFactory) -> None:
    """Told which event types the in-process handlers take (the container tells it the message
    bus's), the unit writes every other type's row already dispatched: the dispatcher never
    reads it. Here ``order.placed`` (the relay's alone) skips it; ``stock.low`` waits for it."""
    actor = await _customer(uow_factory)
    ids = await _shelf(uow_factory, SCARCE=6)

    def handling_stock_low() -> AbstractUnitOfWork:
        uow = uow_factory()
        uow.handled_event_types = {"stock.low"}
        return uow

    await order_services.place_order(
        handling_stock_low(), actor, [LineRequest("SCARCE", 3)], low_stock_threshold=5
    )

    waiting = [(m.type, m.subject) for m in await _outbox(uow_factory)]
    assert waiting == [("stock.low", f"items/{ids['SCARCE']}")]


async def test_each_import_batch_records_what_it_created_and_updated(
    uow_factory: UowFactory,
) -> None:
    """A bulk load writes rows, not ``Item`` aggregates: each batch records one
    ``items.imported`` (by SKU) in its own transaction, so a consumer's copy of the catalog
    learns what an import changed; a batch that changed nothing records nothing."""
    await _shelf(uow_factory, KEPT=5, MORE=5)
    lines = [
        {"sku": "NEW-1", "title": "New one", "price": "1.00", "quantity": "3"},
        {"sku": "KEPT", "title": "Kept", "price": "2.50", "quantity": "5"},
        {"sku": "MORE", "title": "More", "price": "9.99", "quantity": "8"},
        {"sku": "NEW-2", "title": "New two", "price": "2.00"},
    ]
    source = [SourceLine(n, fields, "") for n, fields in enumerate(lines, start=2)]

    await import_catalog(uow_factory, source, batch_size=2)
    await import_catalog(uow_factory, source, batch_size=2)  # the same again: nothing new

    told = [(m.type, m.subject, m.data) for m in await _outbox(uow_factory)]
    assert told == [
        ("items.imported", "items", {"created": ["NEW-1"], "updated": ["KEPT"]}),
        ("items.imported", "items", {"created": ["NEW-2"], "updated": ["MORE"]}),
    ]


async def test_each_change_records_its_own_event(uow_factory: UowFactory) -> None:
    actor = Actor((await _customer(uow_factory)).user_id, is_admin=True)
    created = await item_services.add_item(
        uow_factory(), item_services.NewItem("Cup", "CUP", price=Decimal("3.00"), quantity=20)
    )
    await item_services.reprice_by_sku(uow_factory(), "CUP", Decimal("3.50"))
    await item_services.reprice_by_sku(uow_factory(), "CUP", Decimal("3.50"))  # no change
    await item_services.restock(uow_factory(), created.id, 5)
    first = await order_services.place_order(uow_factory(), actor, [LineRequest("CUP", 1)])
    second = await order_services.place_order(uow_factory(), actor, [LineRequest("CUP", 1)])
    await order_services.cancel_order(uow_factory(), actor, first.id)
    await order_services.ship_order(uow_factory(), second.id)

    told = [(m.type, m.subject) for m in await _outbox(uow_factory)]

    item, one, two = f"items/{created.id}", f"orders/{first.id}", f"orders/{second.id}"
    assert told == [
        ("item.created", item),
        ("item.price_changed", item),
        ("stock.restocked", item),
        ("order.placed", one),
        ("order.placed", two),
        ("order.cancelled", one),
        ("order.shipped", two),
    ]
    rows = {m.type: m.data for m in await _outbox(uow_factory)}
    assert rows["item.price_changed"] == {
        "id": created.id,
        "sku": "CUP",
        "old_price": "3.00",
        "new_price": "3.50",
    }
    assert rows["stock.restocked"] == {"id": created.id, "sku": "CUP", "added": 5, "quantity": 25}


async def test_an_exception_before_commit_writes_no_event(uow_factory: UowFactory) -> None:
    actor = await _customer(uow_factory)
    await _shelf(uow_factory, LAST=1)

    class Boom(Exception):
        pass

    async def place_then_fail() -> None:
        async with uow_factory() as uow:
            stock = await uow.items.lock_by_skus(["LAST"])
            order = Order.place(actor.user_id, [LineRequest("LAST", 1)], stock)
            await uow.orders.add(order)  # flushed: the order has its id
            raise Boom

    with pytest.raises(Boom):
        await place_then_fail()

    assert await _outbox(uow_factory) == []


async def test_a_commit_that_fails_writes_no_event(uow_factory: UowFactory) -> None:
    new = item_services.NewItem("Mug", "MUG")
    await item_services.add_item(uow_factory(), new)
    with pytest.raises(DuplicateSku):
        await item_services.add_item(uow_factory(), new)  # the unique SKU fails the commit

    assert [m.type for m in await _outbox(uow_factory)] == ["item.created"]


async def test_a_second_commit_in_one_block_writes_only_the_newer_events(
    uow_factory: UowFactory,
) -> None:
    ids = await _shelf(uow_factory, TWICE=3)
    async with uow_factory() as uow:
        item = await uow.items.get_for_update(ids["TWICE"])
        item.restock(1)
        await uow.commit()
        item.restock(2)
        await uow.commit()

    assert [m.data["added"] for m in await _outbox(uow_factory)] == [1, 2]
