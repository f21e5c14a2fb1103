"""The low-stock alert is the handler the container registers for stock.low: run from the
outbox after the sale's commit, it logs and counts one alert per item left running low."""

from __future__ import annotations

import logging

import pytest

from entrypoints.container import build_container
from service_layer.messagebus import dispatch_once
from service_layer.services import orders as order_services
from tests.fakes import FakeUnitOfWork, InMemoryStore
from tests.unit.order_support import add_user, counter, lines, shelf


async def test_a_sale_leaving_items_low_alerts_once_each_after_its_commit(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = InMemoryStore()
    actor = await add_user(store)
    above, at, empty = await shelf(
        store, ("ABOVE", 7, "1.00"), ("AT", 7, "1.00"), ("EMPTY", 7, "1.00")
    )
    before = counter("stockroom_low_stock_alerts_total")
    bus = build_container().message_bus()

    order = await order_services.place_order(
        FakeUnitOfWork(store),
        actor,
        lines(("ABOVE", 1), ("AT", 2), ("EMPTY", 7)),
        low_stock_threshold=5,
    )
    assert counter("stockroom_low_stock_alerts_total") == before  # the sale alerts nobody itself
    with caplog.at_level(logging.WARNING, logger="service_layer.handlers"):
        assert await dispatch_once(lambda: FakeUnitOfWork(store), bus) == 2
        assert await dispatch_once(lambda: FakeUnitOfWork(store), bus) == 0

    assert order.id is not None
    assert counter("stockroom_low_stock_alerts_total") == before + 2
    assert [r.getMessage() for r in caplog.records] == [
        f"low stock: AT ({at.title}) has 5 left",
        f"low stock: EMPTY ({empty.title}) has 0 left",
    ]
    assert above.title not in caplog.text


async def test_the_threshold_is_the_one_the_sale_was_given() -> None:
    store = InMemoryStore()
    actor = await add_user(store)
    await shelf(store, ("CUP", 10, "1.00"))
    before = counter("stockroom_low_stock_alerts_total")

    await order_services.place_order(
        FakeUnitOfWork(store), actor, lines(("CUP", 5)), low_stock_threshold=4
    )
    await dispatch_once(lambda: FakeUnitOfWork(store), build_container().message_bus())

    assert counter("stockroom_low_stock_alerts_total") == before  # 5 left, above 4
