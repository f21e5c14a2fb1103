"""In-memory repositories with transactional semantics, for fast tests and scripts.

The committed state lives in an ``InMemoryStore`` shared by every unit of work that uses it;
each unit works on private copies and publishes them only on commit, so "no commit, no
change" holds here exactly as it does in the database. Ids come from counters that, like
database sequences, are not given back on rollback. Unique constraints are checked at commit,
where the database checks them too.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from adapters.repository import AbstractItemRepository, AbstractUserRepository
from domain.errors import DomainError, DuplicateSku, EmailTaken
from domain.item import Item
from domain.user import User

T = TypeVar("T", bound="_Stored")


class _Stored(Protocol):
    id: int | None


def _clone(row: T) -> T:
    """A new object, not ``copy.copy``: once the ORM has mapped a class (in a test run that
    also touches a database), a shallow copy would share SQLAlchemy's instance state."""
    return dataclasses.replace(row)  # type: ignore[type-var]


def _values(row: _Stored) -> tuple[object, ...]:
    return tuple(getattr(row, field.name) for field in dataclasses.fields(row))  # type: ignore[arg-type]


@dataclass
class InMemoryStore:
    items: dict[int, Item] = field(default_factory=dict)
    users: dict[int, User] = field(default_factory=dict)
    item_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    user_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))


class _Table(Generic[T]):
    """A private working copy of one committed collection."""

    def __init__(
        self,
        committed: dict[int, T],
        ids: itertools.count[int],
        unique_key: Callable[[T], str],
        on_duplicate: Callable[[str], DomainError],
    ) -> None:
        self.rows = {row_id: _clone(row) for row_id, row in committed.items()}
        self._read = {row_id: _values(row) for row_id, row in committed.items()}
        self._ids = ids
        self._unique_key = unique_key
        self._on_duplicate = on_duplicate

    def add(self, row: T) -> None:
        if row.id is None:
            row.id = next(self._ids)
        self.rows[row.id] = row

    def ordered(self) -> list[T]:
        return sorted(self.rows.values(), key=lambda row: row.id or 0)

    def merged_into(self, committed: dict[int, T]) -> dict[int, T]:
        """The committed rows with this unit's inserts, changes and deletes applied, as a
        database would apply them: rows another unit committed meanwhile are kept."""
        merged = dict(committed)
        for row_id in self._read.keys() - self.rows.keys():
            merged.pop(row_id, None)
        for row_id, row in self.rows.items():
            if self._read.get(row_id) != _values(row):
                merged[row_id] = _clone(row)
        counts = Counter(self._unique_key(row) for row in merged.values())
        duplicates = sorted(key for key, count in counts.items() if count > 1)
        if duplicates:
            raise self._on_duplicate(duplicates[0])
        return merged


class InMemoryItemRepository(AbstractItemRepository):
    def __init__(self, store: InMemoryStore) -> None:
        super().__init__()
        self.table = _Table(store.items, store.item_ids, lambda item: item.sku, DuplicateSku)

    async def _add(self, item: Item) -> None:
        self.table.add(item)

    async def _get(self, item_id: int, *, for_update: bool) -> Item | None:
        return self.table.rows.get(item_id)

    async def _list(self, *, skip: int, limit: int) -> Sequence[Item]:
        return self.table.ordered()[skip : skip + limit]

    async def _delete(self, item: Item) -> None:
        if item.id is not None:
            self.table.rows.pop(item.id, None)


class InMemoryUserRepository(AbstractUserRepository):
    def __init__(self, store: InMemoryStore) -> None:
        super().__init__()
        self.table = _Table(store.users, store.user_ids, lambda user: user.email, _email_taken)

    async def _add(self, user: User) -> None:
        self.table.add(user)

    async def _get(self, user_id: int) -> User | None:
        return self.table.rows.get(user_id)

    async def _get_by_email(self, email: str) -> User | None:
        return next((user for user in self.table.rows.values() if user.email == email), None)


def _email_taken(_email: str) -> DomainError:
    return EmailTaken()


def commit_to(
    store: InMemoryStore, items: InMemoryItemRepository, users: InMemoryUserRepository
) -> None:
    """Check every constraint first, then publish everything: all or nothing."""
    merged_items = items.table.merged_into(store.items)
    merged_users = users.table.merged_into(store.users)
    store.items, store.users = merged_items, merged_users
