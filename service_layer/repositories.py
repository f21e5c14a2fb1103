"""The repository ports: what a use case may ask of storage, one repository per aggregate.

Implementations: ``adapters.repositories`` and ``tests/fakes`` (in memory); both
pass the same contract suite (``tests/integration/test_repository_contract.py``). A lookup of
something that does not exist raises the domain's ``Unknown*`` error, never returns ``None``,
except where absence is a normal answer (``get_by_email``, idempotency keys). The outbox's
ports (``AbstractOutbox``, ``AbstractEventHandling``) are in ``service_layer/outbox.py``,
beside the rows they hold.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TypeVar

from domain.address_activity import ActivityCounter, ActivityKey
from domain.catalog_import import Catalog, CatalogRow, ImportedBatch
from domain.idempotency import IdempotencyRecord
from domain.item import Item
from domain.login_throttle import FailureCounter, ThrottleKey
from domain.order import Order, OrderStatus
from domain.user import User

A = TypeVar("A", Item, Order)


class Seen(dict[A, None]):
    """The aggregates a repository handed out or was given in one unit, each once, in the
    order first seen (a dict as an ordered set: aggregates hash by identity). The unit of work
    records their events at commit (cosmicpython's ``seen``, here because events need it)."""

    def saw(self, aggregate: A) -> A:
        self[aggregate] = None
        return aggregate

    def saw_all(self, aggregates: Sequence[A]) -> Sequence[A]:
        self.update(dict.fromkeys(aggregates))
        return aggregates


class AbstractItemRepository(abc.ABC):
    seen: Seen[Item]  # every item add/get/list/lock* touched in this unit

    @abc.abstractmethod
    async def add(self, item: Item) -> None: ...

    @abc.abstractmethod
    async def get(self, item_id: int) -> Item:
        """The item, or ``UnknownItem``."""

    @abc.abstractmethod
    async def get_for_update(self, item_id: int) -> Item:
        """Like ``get``, but the row stays locked against other writers until the unit ends."""

    @abc.abstractmethod
    async def list(
        self, *, skip: int = 0, limit: int = 100, after_id: int | None = None
    ) -> Sequence[Item]:
        """In id order. ``after_id`` pages by key (stable while rows come and go), ``skip``
        by offset (what the classic CRUD contract offers)."""

    @abc.abstractmethod
    async def lock_by_skus(self, skus: Sequence[str]) -> Sequence[Item]:
        """The items with these SKUs (missing ones are simply absent), locked in id order.

        One fixed lock order for every caller is what keeps two orders over the same items,
        listed in opposite orders, from deadlocking each other.
        """

    @abc.abstractmethod
    async def lock_by_ids(self, item_ids: Sequence[int]) -> Sequence[Item]:
        """The items with these ids (missing ones are absent), locked in id order."""

    @abc.abstractmethod
    async def delete(self, item: Item) -> None: ...


class AbstractUserRepository(abc.ABC):
    @abc.abstractmethod
    async def add(self, user: User) -> None: ...

    @abc.abstractmethod
    async def get(self, user_id: int) -> User:
        """The user, or ``UnknownUser``."""

    @abc.abstractmethod
    async def get_for_update(self, user_id: int) -> User:
        """Like ``get``, with the row locked until the unit ends: whatever changes an account's
        credentials takes this lock, so two such changes never both compute the same next
        ``credentials_version`` (a revocation lost to a concurrent one)."""

    @abc.abstractmethod
    async def get_by_email(self, email: str, *, for_update: bool = False) -> User | None:
        """The user with this (already normalised) email, or ``None``; locked like
        ``get_for_update`` when ``for_update``."""

    @abc.abstractmethod
    async def list(self, *, skip: int = 0, limit: int = 100) -> Sequence[User]:
        """In id order."""


class AbstractOrderRepository(abc.ABC):
    seen: Seen[Order]  # every order add/get/get_for_update/list touched in this unit

    @abc.abstractmethod
    async def add(self, order: Order) -> None:
        """Store a new order; its id (and its lines' ids) are assigned on return."""

    @abc.abstractmethod
    async def get(self, order_id: int) -> Order:
        """The order with its lines, or ``UnknownOrder``."""

    @abc.abstractmethod
    async def get_for_update(self, order_id: int) -> Order:
        """Like ``get``, with the order row locked until the unit ends."""

    @abc.abstractmethod
    async def list(
        self,
        *,
        customer_id: int | None,
        status: OrderStatus | None = None,
        skip: int = 0,
        limit: int = 100,
        before_id: int | None = None,
    ) -> Sequence[Order]:
        """Newest first (id descending); one customer's orders, or everyone's when
        ``customer_id`` is None; only those in ``status`` when it is given. ``before_id`` pages
        by key (only older orders, ids below it: stable while orders are placed), ``skip`` by
        offset."""

    @abc.abstractmethod
    async def count(self, *, customer_id: int | None, status: OrderStatus | None = None) -> int:
        """How many orders ``list`` would show with these filters and no page bounds."""

    @abc.abstractmethod
    async def exists_for_item(self, item_id: int) -> bool: ...


class AbstractIdempotencyRepository(abc.ABC):
    @abc.abstractmethod
    async def get(self, customer_id: int, key: str) -> IdempotencyRecord | None: ...

    @abc.abstractmethod
    async def add(self, record: IdempotencyRecord) -> None: ...

    @abc.abstractmethod
    async def remove(self, record: IdempotencyRecord) -> None:
        """Forget ``record`` now, so its key can be stored again in this unit; no error if it
        is gone already (a purge may have removed it meanwhile)."""

    @abc.abstractmethod
    async def remove_created_before(self, cutoff: datetime, *, limit: int) -> int:
        """Remove up to ``limit`` records created at or before ``cutoff``, oldest first, and
        say how many. Records another unit is busy with may be left for a later call."""


class AbstractLoginFailureRepository(abc.ABC):
    """Failed-login counters (``domain.login_throttle``), shared by every process.

    Counting must be exact under concurrency: ``add_failure`` is one atomic increment in the
    database, never a read followed by a write, and it keeps the counter locked until the unit
    ends, so ``block`` acts on the count it returned.
    """

    @abc.abstractmethod
    async def get(self, keys: Sequence[ThrottleKey]) -> Sequence[FailureCounter]:
        """The counters that exist among ``keys`` (stale ones included)."""

    @abc.abstractmethod
    async def add_failure(self, key: ThrottleKey, at: datetime, forget_before: datetime) -> int:
        """Count one failure at ``at`` and return the new count; a counter whose last failure
        is older than ``forget_before`` starts again from one."""

    @abc.abstractmethod
    async def block(self, key: ThrottleKey, until: datetime) -> None:
        """Refuse logins this counter watches until ``until`` (an existing counter)."""

    @abc.abstractmethod
    async def forget(self, key: ThrottleKey) -> None:
        """Delete the counter, if there is one."""

    @abc.abstractmethod
    async def forget_stale(self, forget_before: datetime) -> int:
        """Delete counters whose last failure is older than ``forget_before``; how many.
        Counters other units are writing right now are left for next time, never waited on."""

    # What the throttles remember besides failures (``domain.address_activity``): sign-ups
    # per address, successful logins per account and address.

    @abc.abstractmethod
    async def get_activity(self, keys: Sequence[ActivityKey]) -> Sequence[ActivityCounter]:
        """The activity counters that exist among ``keys`` (stale ones included)."""

    @abc.abstractmethod
    async def count_activity(
        self, key: ActivityKey, at: datetime, restart_before: datetime
    ) -> ActivityCounter:
        """Count one event at ``at``, atomically, and return the counter; one whose window
        started before ``restart_before`` starts a new window at ``at``, from one."""

    @abc.abstractmethod
    async def forget_stale_activity(self, before: datetime) -> int:
        """Delete activity counters whose last event is older than ``before``; how many."""


class AbstractImportJournal(abc.ABC):
    """Which lines of which file a catalog import has committed (``domain.catalog_import``).

    A batch is recorded in the unit that applies it, so the record exists exactly when the
    batch's changes do: a run stopped half-way leaves precisely its committed batches here.
    """

    @abc.abstractmethod
    async def batches(self, file_digest: str) -> Sequence[ImportedBatch]:
        """The committed batches of the file with this digest, in line order."""

    @abc.abstractmethod
    async def add(self, batch: ImportedBatch) -> None: ...

    @abc.abstractmethod
    async def forget(self, file_digest: str) -> None:
        """Forget every batch of this file (it is being imported anew)."""


class AbstractCatalogRows(abc.ABC):
    """Items as plain rows, for bulk loads (``services.catalog_import``): a file's rows change
    many items at once, and a mapped ``Item`` per row would cost more to build than its row
    costs to write. The items' invariants are checked on the rows (``domain.catalog_import``)
    before they get here; the same locks as the item repository's, in the same order.

    ``seen``: the ``Catalog`` once a load recorded its batch's event on it (``record``); the
    unit's commit writes that to the outbox as it does the aggregates' events of the other
    ``seen``. An empty tuple on the class, replaced on the instance by ``record``: a unit that
    imports nothing (every purchase) builds nothing for it.
    """

    seen: Sequence[Catalog] = ()

    def record(self, catalog: Catalog) -> None:
        self.seen = (*self.seen, catalog)

    @abc.abstractmethod
    async def add_rows(self, rows: Sequence[CatalogRow]) -> None:
        """Insert new items straight from validated catalog rows, all at once; a row without
        a quantity starts at 0. For bulk loads: no ``Item`` object is built (a mapped object
        costs more to build than its row costs to write), none is tracked by the unit, and
        the ids the database generates are not fetched (where a database cannot return them
        in the rows' order, fetching them costs one INSERT per row: adapters.repositories)."""

    @abc.abstractmethod
    async def lock_rows_by_skus(self, skus: Sequence[str]) -> Sequence[tuple[int, CatalogRow]]:
        """Like ``lock_by_skus`` (the same rows, locked in the same id order), but as plain
        values, each with its id: for bulk loads, which change many items by the rows of a
        file and need no ``Item`` object each (see ``add_rows``)."""

    @abc.abstractmethod
    async def update_rows(self, rows: Mapping[int, CatalogRow]) -> None:
        """Write each row's values (title, price, quantity, description) to the item with that
        id, all at once; ids from ``lock_rows_by_skus`` in this unit, values already valid."""

    @abc.abstractmethod
    async def refresh_statistics(self) -> None:
        """Tell the query planner how many items there are now, after a bulk load grew the
        table; a database whose plans do not depend on it does nothing."""
