"""In-memory repositories with transactional semantics, for fast tests.

The committed state lives in an ``InMemoryStore`` shared by every unit of work that uses it;
each unit works on private copies and publishes only what it changed on commit, so "no
commit, no change" holds here as it does in the database, and a commit does not undo rows
another unit committed meanwhile. Ids come from counters that, like database sequences, are
not given back on rollback. Unique constraints are checked at commit, where the database
checks them too. What this fake cannot do is block: it has no locks, so it says nothing about
concurrency; that is what the PostgreSQL tests are for.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections import Counter
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from domain.address_activity import ActivityCounter, ActivityKey
from domain.catalog_import import CatalogRow, ImportedBatch
from domain.errors import (
    DomainError,
    DuplicateSku,
    EmailTaken,
    IdempotencyKeyTaken,
    ImportBatchTaken,
    UnknownItem,
    UnknownOrder,
    UnknownUser,
)
from domain.idempotency import IdempotencyRecord
from domain.item import Item
from domain.login_throttle import FailureCounter, ThrottleKey
from domain.order import Order, OrderStatus
from domain.user import User
from service_layer.repositories import (
    AbstractCatalogRows,
    AbstractIdempotencyRepository,
    AbstractImportJournal,
    AbstractItemRepository,
    AbstractLoginFailureRepository,
    AbstractOrderRepository,
    AbstractUserRepository,
    Seen,
)
from tests.fakes.outbox import InMemoryEventHandling, InMemoryOutbox, OutboxStore

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


@dataclass
class InMemoryStore:
    items: dict[int, Item] = field(default_factory=dict)
    users: dict[int, User] = field(default_factory=dict)
    orders: dict[int, Order] = field(default_factory=dict)
    idempotency: dict[tuple[int, str], IdempotencyRecord] = field(default_factory=dict)
    login_failures: dict[ThrottleKey, FailureCounter] = field(default_factory=dict)
    address_activity: dict[ActivityKey, ActivityCounter] = field(default_factory=dict)
    imports: dict[tuple[str, int], ImportedBatch] = field(default_factory=dict)
    events: OutboxStore = field(default_factory=OutboxStore)
    ids: dict[str, itertools.count[int]] = field(default_factory=dict)

    def next_id(self, sequence: str) -> int:
        return next(self.ids.setdefault(sequence, itertools.count(1)))


def _clone(row: T) -> T:
    """A new object, not ``copy.copy``: once the ORM has mapped a class (in a test run that
    also touches a database), a shallow copy would share SQLAlchemy's instance state."""
    return dataclasses.replace(row)  # type: ignore[type-var]


def _clone_order(order: Order) -> Order:
    return dataclasses.replace(order, lines=[_clone(line) for line in order.lines])


def _fingerprint(row: Any) -> tuple[object, ...]:
    values = []
    for name in (f.name for f in dataclasses.fields(row)):
        value = getattr(row, name)
        values.append(tuple(_fingerprint(v) for v in value) if isinstance(value, list) else value)
    return tuple(values)


class _Table(Generic[K, T]):
    """A unit's private working copy of one committed collection."""

    def __init__(
        self,
        committed: dict[K, T],
        *,
        clone: Callable[[T], T] = _clone,
        unique: Callable[[T], Hashable] | None = None,
        on_duplicate: Callable[[], DomainError] | None = None,
        on_key_clash: Callable[[], Exception] = lambda: RuntimeError("duplicate primary key"),
    ) -> None:
        self.rows = {key: clone(row) for key, row in committed.items()}
        self._read = {key: _fingerprint(row) for key, row in committed.items()}
        self._clone = clone
        self._unique = unique
        self._on_duplicate = on_duplicate
        self._on_key_clash = on_key_clash
        self._inserted: set[K] = set()
        self._deleted: set[K] = set()

    def insert(self, key: K, row: T) -> None:
        """An INSERT: at commit it clashes with any committed row that has the same key,
        unless this unit deleted that very row first."""
        self._inserted.add(key)
        self.rows[key] = row

    def delete(self, key: K) -> None:
        self.rows.pop(key, None)
        self._inserted.discard(key)
        self._deleted.add(key)

    def merged_into(self, committed: dict[K, T]) -> dict[K, T]:
        """The committed rows with this unit's inserts, changes and deletes applied."""
        merged = dict(committed)
        for key in self._read.keys() - self.rows.keys():
            merged.pop(key, None)
        for key, row in self.rows.items():
            if key in self._inserted and key in committed and not self._replaced(key, committed):
                raise self._on_key_clash()  # the key existed already, or another unit won
            if self._read.get(key) != _fingerprint(row):
                merged[key] = self._clone(row)
        if self._unique is not None and self._on_duplicate is not None:
            counts = Counter(self._unique(row) for row in merged.values())
            if any(count > 1 for count in counts.values()):
                raise self._on_duplicate()
        return merged

    def published(self) -> None:
        """The commit published this unit's rows: they are what it read from now on, so a
        second commit in the same block publishes only what changed since the first."""
        self._read = {key: _fingerprint(row) for key, row in self.rows.items()}
        self._inserted.clear()
        self._deleted.clear()

    def _replaced(self, key: K, committed: dict[K, T]) -> bool:
        """This unit deleted the row, and the committed one is still the row it read."""
        return key in self._deleted and self._read.get(key) == _fingerprint(committed[key])


class InMemoryItemRepository(AbstractItemRepository):
    def __init__(self, store: InMemoryStore) -> None:
        self._store = store
        self.seen = Seen()
        self.table: _Table[int, Item] = _Table(
            store.items, unique=lambda item: item.sku, on_duplicate=DuplicateSku
        )

    async def add(self, item: Item) -> None:
        if item.id is None:
            item.id = self._store.next_id("items")
        self.table.insert(item.id, self.seen.saw(item))

    async def get(self, item_id: int) -> Item:
        return self.seen.saw(_found(self.table.rows.get(item_id), UnknownItem(item_id)))

    async def get_for_update(self, item_id: int) -> Item:
        return await self.get(item_id)  # no locks here: nothing runs concurrently

    async def list(
        self, *, skip: int = 0, limit: int = 100, after_id: int | None = None
    ) -> Sequence[Item]:
        rows = sorted(self.table.rows.values(), key=_by_id)
        if after_id is not None:
            rows = [item for item in rows if _by_id(item) > after_id]
        return self.seen.saw_all(rows[skip : skip + limit])

    async def lock_by_skus(self, skus: Sequence[str]) -> Sequence[Item]:
        wanted = set(skus)
        found = sorted((i for i in self.table.rows.values() if i.sku in wanted), key=_by_id)
        return self.seen.saw_all(found)

    async def lock_by_ids(self, item_ids: Sequence[int]) -> Sequence[Item]:
        wanted = set(item_ids)
        found = sorted((i for i in self.table.rows.values() if i.id in wanted), key=_by_id)
        return self.seen.saw_all(found)

    async def delete(self, item: Item) -> None:
        if item.id is not None:
            self.table.rows.pop(item.id, None)


class InMemoryUserRepository(AbstractUserRepository):
    def __init__(self, store: InMemoryStore) -> None:
        self._store = store
        self.table: _Table[int, User] = _Table(
            store.users, unique=lambda user: user.email, on_duplicate=EmailTaken
        )

    async def add(self, user: User) -> None:
        if user.id is None:
            user.id = self._store.next_id("users")
        self.table.insert(user.id, user)

    async def get(self, user_id: int) -> User:
        return _found(self.table.rows.get(user_id), UnknownUser(user_id))

    async def get_for_update(self, user_id: int) -> User:
        return await self.get(user_id)  # no locks here: nothing runs concurrently

    async def get_by_email(self, email: str, *, for_update: bool = False) -> User | None:
        return next((user for user in self.table.rows.values() if user.email == email), None)

    async def list(self, *, skip: int = 0, limit: int = 100) -> Sequence[User]:
        return sorted(self.table.rows.values(), key=_by_id)[skip : skip + limit]


class InMemoryOrderRepository(AbstractOrderRepository):
    def __init__(self, store: InMemoryStore) -> None:
        self._store = store
        self.table: _Table[int, Order] = _Table(store.orders, clone=_clone_order)
        self.seen = Seen()

    async def add(self, order: Order) -> None:
        if order.id is None:
            order.id = self._store.next_id("orders")
        for line in order.lines:
            if line.id is None:
                line.id = self._store.next_id("order_lines")
        self.table.insert(order.id, self.seen.saw(order))

    async def get(self, order_id: int) -> Order:
        return self.seen.saw(_found(self.table.rows.get(order_id), UnknownOrder(order_id)))

    async def get_for_update(self, order_id: int) -> Order:
        return await self.get(order_id)

    async def list(
        self,
        *,
        customer_id: int | None,
        status: OrderStatus | None = None,
        skip: int = 0,
        limit: int = 100,
        before_id: int | None = None,
    ) -> Sequence[Order]:
        mine = [
            order
            for order in self._matching(customer_id, status)
            if before_id is None or _by_id(order) < before_id
        ]
        return self.seen.saw_all(sorted(mine, key=_by_id, reverse=True)[skip : skip + limit])

    async def count(self, *, customer_id: int | None, status: OrderStatus | None = None) -> int:
        return len(self._matching(customer_id, status))

    def _matching(self, customer_id: int | None, status: OrderStatus | None) -> list[Order]:
        return [
            order
            for order in self.table.rows.values()
            if (customer_id is None or order.customer_id == customer_id)
            and (status is None or order.status is status)
        ]

    async def exists_for_item(self, item_id: int) -> bool:
        return any(
            line.item_id == item_id for order in self.table.rows.values() for line in order.lines
        )


class InMemoryIdempotencyRepository(AbstractIdempotencyRepository):
    def __init__(self, store: InMemoryStore) -> None:
        self.table: _Table[tuple[int, str], IdempotencyRecord] = _Table(
            store.idempotency, on_key_clash=IdempotencyKeyTaken
        )

    async def get(self, customer_id: int, key: str) -> IdempotencyRecord | None:
        return self.table.rows.get((customer_id, key))

    async def add(self, record: IdempotencyRecord) -> None:
        self.table.insert((record.customer_id, record.key), record)

    async def remove(self, record: IdempotencyRecord) -> None:
        self.table.delete((record.customer_id, record.key))

    async def remove_created_before(self, cutoff: datetime, *, limit: int) -> int:
        expired = sorted(
            (record for record in self.table.rows.values() if record.created_at <= cutoff),
            key=lambda record: record.created_at,
        )[:limit]
        for record in expired:
            self.table.delete((record.customer_id, record.key))
        return len(expired)


class InMemoryLoginFailureRepository(AbstractLoginFailureRepository):
    """Counts exactly as the database does, one unit at a time (no locks to test here)."""

    def __init__(self, store: InMemoryStore) -> None:
        self.table: _Table[ThrottleKey, FailureCounter] = _Table(store.login_failures)
        self.activity: _Table[ActivityKey, ActivityCounter] = _Table(store.address_activity)

    async def get(self, keys: Sequence[ThrottleKey]) -> Sequence[FailureCounter]:
        return [self.table.rows[key] for key in keys if key in self.table.rows]

    async def add_failure(self, key: ThrottleKey, at: datetime, forget_before: datetime) -> int:
        current = self.table.rows.get(key)
        if current is None or current.last_failure_at < forget_before:
            counted = FailureCounter(key, failures=1, last_failure_at=at)
        else:
            counted = FailureCounter(key, current.failures + 1, at, current.blocked_until)
        self.table.rows[key] = counted
        return counted.failures

    async def block(self, key: ThrottleKey, until: datetime) -> None:
        if key in self.table.rows:
            self.table.rows[key] = dataclasses.replace(self.table.rows[key], blocked_until=until)

    async def forget(self, key: ThrottleKey) -> None:
        self.table.rows.pop(key, None)

    async def forget_stale(self, forget_before: datetime) -> int:
        stale = [k for k, c in self.table.rows.items() if c.last_failure_at < forget_before]
        for key in stale:
            del self.table.rows[key]
        return len(stale)

    async def get_activity(self, keys: Sequence[ActivityKey]) -> Sequence[ActivityCounter]:
        return [self.activity.rows[key] for key in keys if key in self.activity.rows]

    async def count_activity(
        self, key: ActivityKey, at: datetime, restart_before: datetime
    ) -> ActivityCounter:
        current = self.activity.rows.get(key)
        if current is None or current.started_at < restart_before:
            counted = ActivityCounter(key, count=1, started_at=at, last_at=at)
        else:
            counted = ActivityCounter(key, current.count + 1, current.started_at, at)
        self.activity.rows[key] = counted
        return counted

    async def forget_stale_activity(self, before: datetime) -> int:
        stale = [k for k, c in self.activity.rows.items() if c.last_at < before]
        for key in stale:
            del self.activity.rows[key]
        return len(stale)


class InMemoryImportJournal(AbstractImportJournal):
    def __init__(self, store: InMemoryStore) -> None:
        self.table: _Table[tuple[str, int], ImportedBatch] = _Table(
            store.imports, on_key_clash=ImportBatchTaken
        )

    async def batches(self, file_digest: str) -> Sequence[ImportedBatch]:
        mine = [batch for batch in self.table.rows.values() if batch.file_digest == file_digest]
        return sorted(mine, key=lambda batch: batch.first_line)

    async def add(self, batch: ImportedBatch) -> None:
        self.table.insert((batch.file_digest, batch.first_line), batch)

    async def forget(self, file_digest: str) -> None:
        for key in [key for key in self.table.rows if key[0] == file_digest]:
            self.table.delete(key)


class InMemoryCatalogRows(AbstractCatalogRows):
    """Bulk rows on the unit's own working copy of the items."""

    def __init__(self, items: InMemoryItemRepository) -> None:
        self._items = items

    async def add_rows(self, rows: Sequence[CatalogRow]) -> None:
        for row in rows:
            quantity = row.quantity or 0
            await self._items.add(Item(row.sku, row.title, row.price, quantity, row.description))

    async def lock_rows_by_skus(self, skus: Sequence[str]) -> Sequence[tuple[int, CatalogRow]]:
        return [
            (
                _by_id(item),
                CatalogRow(
                    0,
                    item.sku,
                    item.title,
                    item.price,
                    item.quantity,
                    item.description,
                    has_description=True,
                ),
            )
            for item in await self._items.lock_by_skus(skus)
        ]

    async def update_rows(self, rows: Mapping[int, CatalogRow]) -> None:
        for item_id, row in rows.items():
            item = self._items.table.rows[item_id]
            item.title, item.price, item.description = row.title, row.price, row.description
            item.quantity = row.quantity or 0

    async def refresh_statistics(self) -> None:
        pass  # no query planner here


def _found(row: T | None, missing: Exception) -> T:
    if row is None:
        raise missing
    return row


def _by_id(row: Item | Order | User) -> int:
    return row.id or 0


@dataclass
class InMemoryRepositories:
    """One unit's view of the store; ``commit`` publishes all of it or none of it."""

    store: InMemoryStore
    items: InMemoryItemRepository = field(init=False)
    users: InMemoryUserRepository = field(init=False)
    orders: InMemoryOrderRepository = field(init=False)
    idempotency: InMemoryIdempotencyRepository = field(init=False)
    login_failures: InMemoryLoginFailureRepository = field(init=False)
    imports: InMemoryImportJournal = field(init=False)
    catalog_rows: InMemoryCatalogRows = field(init=False)
    outbox: InMemoryOutbox = field(init=False)
    event_handling: InMemoryEventHandling = field(init=False)

    def __post_init__(self) -> None:
        self.items = InMemoryItemRepository(self.store)
        self.users = InMemoryUserRepository(self.store)
        self.orders = InMemoryOrderRepository(self.store)
        self.idempotency = InMemoryIdempotencyRepository(self.store)
        self.login_failures = InMemoryLoginFailureRepository(self.store)
        self.imports = InMemoryImportJournal(self.store)
        self.catalog_rows = InMemoryCatalogRows(self.items)
        self.outbox = InMemoryOutbox(self.store.events)
        self.event_handling = InMemoryEventHandling(self.store.events)

    def commit(self) -> None:
        merged = (
            self.items.table.merged_into(self.store.items),
            self.users.table.merged_into(self.store.users),
            self.orders.table.merged_into(self.store.orders),
            self.idempotency.table.merged_into(self.store.idempotency),
            self.login_failures.table.merged_into(self.store.login_failures),
            self.login_failures.activity.merged_into(self.store.address_activity),
            self.imports.table.merged_into(self.store.imports),
        )
        (
            self.store.items,
            self.store.users,
            self.store.orders,
            self.store.idempotency,
            self.store.login_failures,
            self.store.address_activity,
            self.store.imports,
        ) = merged
        # Last, once nothing above can fail: a commit that fails writes no event.
        self.outbox.commit()
        self.event_handling.commit()
        for table in self._tables():
            table.published()

    def _tables(self) -> list[_Table[Any, Any]]:
        return [
            self.items.table,
            self.users.table,
            self.orders.table,
            self.idempotency.table,
            self.login_failures.table,
            self.login_failures.activity,
            self.imports.table,
        ]
