"""An in-memory unit of work for unit tests and dry runs: same contract, no database."""

from __future__ import annotations

from collections.abc import Sequence

from adapters.memory_repository import (
    InMemoryIdempotencyRepository,
    InMemoryItemRepository,
    InMemoryOrderRepository,
    InMemoryRepositories,
    InMemoryStore,
    InMemoryUserRepository,
)
from service_layer.read_views import AbstractReadViews
from service_layer.unit_of_work import AbstractUnitOfWork
from service_layer.views import ItemView, UserView


class FakeUnitOfWork(AbstractUnitOfWork):
    """Works on private copies of ``store`` and publishes them on commit.

    ``commits`` and ``rollbacks`` count explicit calls, so tests can assert that a use case
    committed exactly once, or not at all when it failed.
    """

    items: InMemoryItemRepository
    users: InMemoryUserRepository
    orders: InMemoryOrderRepository
    idempotency: InMemoryIdempotencyRepository

    def __init__(self, store: InMemoryStore | None = None) -> None:
        super().__init__()
        self.store = store if store is not None else InMemoryStore()
        self.views = InMemoryReadViews(self.store)
        self.commits = 0
        self.rollbacks = 0

    @property
    def committed(self) -> bool:
        return self.commits > 0

    async def _begin(self) -> None:
        self._open_repositories()

    def _open_repositories(self) -> None:
        self._repositories = InMemoryRepositories(self.store)
        self.items = self._repositories.items
        self.users = self._repositories.users
        self.orders = self._repositories.orders
        self.idempotency = self._repositories.idempotency

    async def _commit(self) -> None:
        self._repositories.commit()
        self.commits += 1

    async def _rollback(self) -> None:
        self.rollbacks += 1
        # Discard uncommitted work by starting again from the committed state.
        self._open_repositories()

    async def _end(self) -> None:
        # Whatever a commit did not publish is simply dropped with the working copies.
        del self.items, self.users, self.orders, self.idempotency, self._repositories


class InMemoryReadViews(AbstractReadViews):
    """Read models from the store's committed state, as the SQL views read committed rows."""

    def __init__(self, store: InMemoryStore) -> None:
        self._store = store

    async def item(self, item_id: int) -> ItemView | None:
        item = self._store.items.get(item_id)
        return ItemView.from_domain(item) if item is not None else None

    async def items(
        self, *, skip: int = 0, limit: int = 100, after_id: int | None = None
    ) -> list[ItemView]:
        ordered = sorted(self._store.items.items())
        if after_id is not None:
            ordered = [(item_id, item) for item_id, item in ordered if item_id > after_id]
        return [ItemView.from_domain(item) for _, item in ordered[skip : skip + limit]]

    async def low_stock(self, item_ids: Sequence[int], *, threshold: int) -> list[ItemView]:
        return [
            ItemView.from_domain(self._store.items[item_id])
            for item_id in sorted(set(item_ids))
            if item_id in self._store.items and self._store.items[item_id].quantity <= threshold
        ]

    async def user(self, user_id: int) -> UserView | None:
        user = self._store.users.get(user_id)
        return UserView.from_domain(user) if user is not None else None
