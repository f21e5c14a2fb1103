"""An in-memory unit of work for unit tests: same contract, no database."""

from __future__ import annotations

from collections.abc import Collection

from service_layer.unit_of_work import AbstractUnitOfWork
from tests.fakes.outbox import InMemoryEventHandling, InMemoryOutbox
from tests.fakes.repositories import (
    InMemoryCatalogRows,
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
    catalog_rows: InMemoryCatalogRows
    outbox: InMemoryOutbox
    event_handling: InMemoryEventHandling

    def __init__(
        self,
        store: InMemoryStore | None = None,
        handled_event_types: Collection[str] | None = None,
    ) -> None:
        self.store = store if store is not None else InMemoryStore()
        self.handled_event_types = handled_event_types
        self.begins = 0
        self.commits = 0

    @property
    def committed(self) -> bool:
        return self.commits > 0

    async def _begin(self) -> None:
        self.begins += 1
        self._repositories = repositories = InMemoryRepositories(self.store)
        self.items = repositories.items
        self.users = repositories.users
        self.orders = repositories.orders
        self.idempotency = repositories.idempotency
        self.login_failures = repositories.login_failures
        self.imports = repositories.imports
        self.catalog_rows = repositories.catalog_rows
        self.outbox = repositories.outbox
        self.event_handling = repositories.event_handling

    async def _flush(self) -> None:
        pass  # ids are given as rows are added (tests/fakes/repositories.py)

    async def _commit(self) -> None:
        self._repositories.commit()
        self.commits += 1

    async def _end(self, error: BaseException | None) -> None:
        # Whatever a commit did not publish is simply dropped with the working copies.
        del self._repositories
