"""The read port over an ``InMemoryStore``: committed state only, as the SQL reads see it."""

from __future__ import annotations

from collections.abc import Sequence

from domain.item import Item
from service_layer.reads import EVERY_ITEM, AbstractReads, ItemFilter
from service_layer.views import ItemView, UserView
from tests.fakes.repositories import InMemoryStore


class InMemoryReads(AbstractReads):
    def __init__(self, store: InMemoryStore) -> None:
        self._store = store
        self.latest = self  # committed is committed: there is no replica to lag

    async def item(self, item_id: int) -> ItemView | None:
        item = self._store.items.get(item_id)
        return ItemView.from_domain(item) if item is not None else None

    async def items(
        self,
        *,
        skip: int = 0,
        limit: int = 100,
        after_id: int | None = None,
        where: ItemFilter = EVERY_ITEM,
    ) -> list[ItemView]:
        ordered = sorted(self._store.items.items())
        if after_id is not None:
            ordered = [(item_id, item) for item_id, item in ordered if item_id > after_id]
        chosen = [item for _, item in ordered if _admits(where, item)]
        return [ItemView.from_domain(item) for item in chosen[skip : skip + limit]]

    async def count_items(self, where: ItemFilter = EVERY_ITEM) -> int:
        return sum(1 for item in self._store.items.values() if _admits(where, item))

    async def items_by_stock(self, *, below: int | None = None, limit: int = 100) -> list[ItemView]:
        chosen = [
            item for item in self._store.items.values() if below is None or item.quantity < below
        ]
        chosen.sort(key=lambda item: (item.quantity, item.id))
        return [ItemView.from_domain(item) for item in chosen[:limit]]

    async def items_by_ids(self, item_ids: Sequence[int]) -> list[ItemView]:
        return [
            ItemView.from_domain(self._store.items[item_id])
            for item_id in sorted(set(item_ids))
            if item_id in self._store.items
        ]

    async def user(self, user_id: int) -> UserView | None:
        user = self._store.users.get(user_id)
        return UserView.from_domain(user) if user is not None else None


def _admits(where: ItemFilter, item: Item) -> bool:
    """As the SQL reads filter (``adapters.reads``): the title's text found literally, in any
    case."""
    title = where.title_contains
    return (
        (where.sku is None or item.sku == where.sku)
        and (title is None or title.lower() in item.title.lower())
        and (where.in_stock is None or (item.quantity > 0) is where.in_stock)
        and (where.min_price is None or item.price >= where.min_price)
        and (where.max_price is None or item.price <= where.max_price)
    )
