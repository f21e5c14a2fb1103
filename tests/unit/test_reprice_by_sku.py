"""``reprice_by_sku`` on the fake unit of work: price lists name items by SKU."""

from __future__ import annotations

from decimal import Decimal

import pytest

from domain.errors import InvalidValue, UnknownSku
from service_layer.services.items import PriceChange, reprice_by_sku
from tests.fakes import FakeUnitOfWork, InMemoryStore
from tests.unit.support import item_id, seed_one, snapshot


async def test_reprice_sets_the_price_and_reports_old_and_new(store: InMemoryStore) -> None:
    item = await seed_one(store, sku="RP-1", price=Decimal("4.00"))
    uow = FakeUnitOfWork(store)

    change = await reprice_by_sku(uow, " rp-1 ", Decimal("4.5"))

    assert change == PriceChange("RP-1", Decimal("4.00"), Decimal("4.50"))
    assert change.changed
    assert store.items[item_id(item)].price == Decimal("4.50")
    assert uow.commits == 1


async def test_the_same_price_writes_nothing(store: InMemoryStore) -> None:
    await seed_one(store, sku="RP-2", price=Decimal("4.00"))
    uow = FakeUnitOfWork(store)

    change = await reprice_by_sku(uow, "RP-2", Decimal("4"))

    assert not change.changed
    assert uow.commits == 0


async def test_an_unknown_sku_changes_nothing(store: InMemoryStore) -> None:
    await seed_one(store, sku="RP-3")
    before = snapshot(store)

    with pytest.raises(UnknownSku) as raised:
        await reprice_by_sku(FakeUnitOfWork(store), "rp-404", Decimal("1"))

    assert raised.value.skus == ["RP-404"]
    assert snapshot(store) == before


@pytest.mark.parametrize("price", [Decimal("-1"), Decimal("1.005")])
async def test_a_price_the_domain_refuses_changes_nothing(
    store: InMemoryStore, price: Decimal
) -> None:
    await seed_one(store, sku="RP-4")
    before = snapshot(store)

    with pytest.raises(InvalidValue):
        await reprice_by_sku(FakeUnitOfWork(store), "RP-4", price)

    assert snapshot(store) == before
