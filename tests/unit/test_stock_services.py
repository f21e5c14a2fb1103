"""The stock report on the fake read port: lowest stock first, strictly below, bounded."""

from __future__ import annotations

import pytest

from domain.item import is_running_low
from service_layer.services.stock import MAX_REPORT_ROWS, stock_report
from service_layer.views import ItemView
from tests.fakes import InMemoryReads, InMemoryStore
from tests.unit.support import item_id, seed_one


async def seed_quantities(store: InMemoryStore, *quantities: int) -> list[int]:
    return [item_id(await seed_one(store, quantity=quantity)) for quantity in quantities]


async def test_the_report_lists_lowest_stock_first_ties_in_id_order(store: InMemoryStore) -> None:
    ids = await seed_quantities(store, 7, 0, 3, 0, 12)

    report = await stock_report(InMemoryReads(store))

    assert [(view.id, view.quantity) for view in report.items] == [
        (ids[1], 0),
        (ids[3], 0),
        (ids[2], 3),
        (ids[0], 7),
        (ids[4], 12),
    ]
    assert not report.more


async def test_below_is_strict(store: InMemoryStore) -> None:
    await seed_quantities(store, 4, 5, 6, 0)

    report = await stock_report(InMemoryReads(store), below=5)

    assert [view.quantity for view in report.items] == [0, 4]


async def test_below_threshold_plus_one_is_the_low_stock_rule(store: InMemoryStore) -> None:
    await seed_quantities(store, *range(10))
    threshold = 5

    report = await stock_report(InMemoryReads(store), below=threshold + 1)

    expected = [quantity for quantity in range(10) if is_running_low(quantity, threshold)]
    assert [view.quantity for view in report.items] == expected


async def test_the_report_stops_at_the_limit_and_says_there_is_more(store: InMemoryStore) -> None:
    await seed_quantities(store, 3, 1, 2, 0)

    cut = await stock_report(InMemoryReads(store), limit=3)
    exact = await stock_report(InMemoryReads(store), limit=4)

    assert ([view.quantity for view in cut.items], cut.more) == ([0, 1, 2], True)
    assert ([view.quantity for view in exact.items], exact.more) == ([0, 1, 2, 3], False)


@pytest.mark.parametrize(
    ("asked", "served"), [(0, 1), (-5, 1), (MAX_REPORT_ROWS + 1, MAX_REPORT_ROWS)]
)
async def test_the_limit_is_kept_within_bounds(
    store: InMemoryStore, asked: int, served: int
) -> None:
    reads = CountingReads(store)

    await stock_report(reads, limit=asked)

    assert reads.limits == [served + 1]  # one more: to know whether there is more


class CountingReads(InMemoryReads):
    def __init__(self, store: InMemoryStore) -> None:
        super().__init__(store)
        self.limits: list[int] = []

    async def items_by_stock(self, *, below: int | None = None, limit: int = 100) -> list[ItemView]:
        self.limits.append(limit)
        return await super().items_by_stock(below=below, limit=limit)


async def test_an_empty_catalog_is_an_empty_report(store: InMemoryStore) -> None:
    report = await stock_report(InMemoryReads(store), below=10)

    assert (report.items, report.more) == ((), False)
