"""An in-memory unit of work for unit tests and dry runs: same contract, no database."""

from __future__ import annotations

from adapters.memory_repository import (
    InMemoryIdempotencyRepository,
    InMemoryItemRepository,
    InMemoryOrderRepository,
    InMemoryRepositories,
    InMemoryStore,
    InMemoryUserRepository,
)
from service_layer.unit_of_work import AbstractUnitOfWork


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
