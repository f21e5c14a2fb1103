"""Aggregates record what happened, from their own methods, as plain values."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest

from domain.errors import OutOfStock
from domain.events import (
    ItemCreated,
    ItemPriceChanged,
    OrderCancelled,
    OrderedLine,
    OrderPlaced,
    OrderShipped,
    StockLow,
    StockRestocked,
)
from domain.item import Item
from domain.order import LineRequest, Order


def _item(sku: str, quantity: int, item_id: int) -> Item:
    return Item(sku, sku.title(), Decimal("2.00"), quantity, id=item_id)


def test_placing_records_the_order_and_each_item_it_left_running_low() -> None:
    plenty, scarce = _item("PLENTY", 20, 1), _item("SCARCE", 5, 2)
    wanted = [LineRequest("PLENTY", 2), LineRequest("SCARCE", 3)]

    order = Order.place(7, wanted, [plenty, scarce], low_stock_threshold=2)

    (placed,) = order.events
    assert placed == OrderPlaced(
        7,
        (
            OrderedLine(1, "PLENTY", 2, Decimal("2.00")),
            OrderedLine(2, "SCARCE", 3, Decimal("2.00")),
        ),
        Decimal("10.00"),
        occurred_at=placed.occurred_at,
    )
    assert placed.type == "order.placed"
    assert plenty.events == []
    assert scarce.events == [
        StockLow("SCARCE", "Scarce", 2, 2, occurred_at=scarce.events[0].occurred_at)
    ]


def test_an_order_refused_records_nothing() -> None:
    cup = _item("CUP", 1, 1)
    with pytest.raises(OutOfStock):
        Order.place(7, [LineRequest("CUP", 2)], [cup])
    assert cup.events == []


def test_cancelling_and_shipping_record_their_events() -> None:
    cup = _item("CUP", 10, 1)
    first = Order.place(7, [LineRequest("CUP", 1)], [cup])
    second = Order.place(7, [LineRequest("CUP", 1)], [cup])

    first.cancel([cup])
    second.ship()

    assert [type(e) for e in first.events] == [OrderPlaced, OrderCancelled]
    assert [type(e) for e in second.events] == [OrderPlaced, OrderShipped]
    assert [e.type for e in (first.events[1], second.events[1])] == [
        "order.cancelled",
        "order.shipped",
    ]


def test_items_record_creation_price_changes_and_restocks_only() -> None:
    item = Item.create("CUP", "Cup", Decimal("3.00"), 4)
    item.reprice(Decimal("3.00"))  # the same price: nothing happened
    item.reprice(Decimal("3.50"))
    item.restock(6)
    item.rename("Mug")  # not an event anyone subscribes to

    assert [e.type for e in item.events] == [
        "item.created",
        "item.price_changed",
        "stock.restocked",
    ]
    created, repriced, restocked = item.events
    assert isinstance(created, ItemCreated)
    assert created.quantity == 4
    assert isinstance(repriced, ItemPriceChanged)
    assert (repriced.old_price, repriced.new_price) == (Decimal("3.00"), Decimal("3.50"))
    assert isinstance(restocked, StockRestocked)
    assert (restocked.added, restocked.quantity) == (6, 10)


def test_an_item_built_or_copied_records_nothing() -> None:
    """A row read back or a copy of an item is not a new item."""
    item = Item.create("CUP", "Cup", Decimal("3.00"))
    assert Item("MUG", "Mug", Decimal("1.00")).events == []
    assert dataclasses.replace(item).events == []
