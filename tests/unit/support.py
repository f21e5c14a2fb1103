"""Shared by the unit tests: a factory for service commands, seeding and snapshotting a store."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import factory

from domain.item import Item
from service_layer.services.items import NewItem
from tests.factories import RUN, ItemFactory
from tests.fakes import FakeUnitOfWork, InMemoryStore

Row = tuple[str, str, str | None, Decimal, int]


class NewItemFactory(factory.Factory):  # type: ignore[misc]
    """A valid ``add_item`` command; SKUs are lower case so tests see them normalised."""

    class Meta:
        model = NewItem

    title = factory.Faker("sentence", nb_words=3)
    sku = factory.Sequence(lambda n: f"n{RUN}-{n:05d}".lower())
    description = factory.Faker("sentence")
    price = factory.Faker("pydecimal", left_digits=3, right_digits=2, min_value=Decimal("0.01"))
    quantity = factory.Faker("random_int", min=0, max=50)


def new_item(**overrides: Any) -> NewItem:
    command: NewItem = NewItemFactory(**overrides)
    return command


async def seed(store: InMemoryStore, count: int = 1, **fields: Any) -> list[Item]:
    """Commit ``count`` factory-built items to ``store`` through a unit of work of its own."""
    items: list[Item] = ItemFactory.build_batch(count, **fields)
    uow = FakeUnitOfWork(store)
    async with uow:
        for item in items:
            await uow.items.add(item)
        await uow.commit()
    return items


async def seed_one(store: InMemoryStore, **fields: Any) -> Item:
    (item,) = await seed(store, 1, **fields)
    return item


def item_id(item: Item) -> int:
    assert item.id is not None, "the item was never stored"
    return item.id


def snapshot(store: InMemoryStore) -> dict[int, Row]:
    """The committed state by value, to prove a failed write left nothing behind."""
    return {
        key: (item.sku, item.title, item.description, item.price, item.quantity)
        for key, item in store.items.items()
    }
