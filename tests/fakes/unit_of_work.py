"""An in-memory unit of work for unit tests: same contract, no database."""

from __future__ import annotations

from service_layer.unit_of_work import AbstractUnitOfWork
from tests.fakes.repositories import (
    InMemoryIdempotencyRepository,
    InMemoryImportJournal,
    InMemoryItemRepository,
    InMemoryLoginFailureRepository,
    InMemoryOrderRepository,
    InMemoryRepositories,
    InMemoryStore,
    InMemoryUserRepository,
)


class FakeUnitOfWork(AbstractUnitOfWork):
    """Works on private copies of ``store`` and publishes them on commit.

    ``begins`` and ``commits`` count what happened, so tests can assert that a use case
    committed exactly once, or not at all when it failed.
    """

    items: InMemoryItemRepository
    users: InMemoryUserRepository
    orders: InMemoryOrderRepository
    idempotency: InMemoryIdempotencyRepository
    login_failures: InMemoryLoginFailureRepository
    imports: InMemoryImportJournal

    def __init__(self, store: InMemoryStore | None = None, warn_after: float | None = None) -> None:
        super().__init__(warn_after)
        self.store = store if store is not None else InMemoryStore()
        self.begins = 0
        self.commits = 0

    @property
    def committed(self) -> bool:
        return self.commits > 0

    async def _begin(self) -> None:
        self.begins += 1
        self._repositories = InMemoryRepositories(self.store)
        self.items = self._repositories.items
        self.users = self._repositories.users
        self.orders = self._repositories.orders
        self.idempotency = self._repositories.idempotency
        self.login_failures = self._repositories.login_failures
        self.imports = self._repositories.imports

    async def _commit(self) -> None:
        self._repositories.commit()
        self.commits += 1

    async def _end(self) -> None:
        # Whatever a commit did not publish is simply dropped with the working copies.
        del self.items, self.users, self.orders, self.idempotency, self.login_failures, self.imports
        del self._repositories
