"""In-memory repositories with transactional semantics, for fast tests and scripts.

The committed state lives in an ``InMemoryStore`` shared by every unit of work that uses it;
each unit works on private copies and publishes them only on commit, so "no commit, no
change" holds here exactly as it does in the database. Ids come from a counter that, like a
database sequence, is not given back on rollback.
"""

from __future__ import annotations

import copy
import itertools
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from adapters.repository import AbstractItemRepository
from domain.errors import DuplicateSku
from domain.item import Item


@dataclass
class InMemoryStore:
    items: dict[int, Item] = field(default_factory=dict)
    item_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))


class InMemoryItemRepository(AbstractItemRepository):
    def __init__(self, store: InMemoryStore) -> None:
        super().__init__()
        self._store = store
        # A private snapshot: changes are invisible to other units until ``publish``.
        self._working = {item_id: copy.copy(item) for item_id, item in store.items.items()}

    async def _add(self, item: Item) -> None:
        if item.id is None:
            item.id = next(self._store.item_ids)
        self._working[item.id] = item

    async def _get(self, item_id: int, *, for_update: bool) -> Item | None:
        return self._working.get(item_id)

    async def _list(self, *, skip: int, limit: int) -> Sequence[Item]:
        ordered = sorted(self._working.values(), key=lambda item: item.id or 0)
        return ordered[skip : skip + limit]

    async def _delete(self, item: Item) -> None:
        if item.id is not None:
            self._working.pop(item.id, None)

    def check_constraints(self) -> None:
        """Enforce what the database enforces at commit: SKUs are unique."""
        counts = Counter(item.sku for item in self._working.values())
        duplicates = sorted(sku for sku, count in counts.items() if count > 1)
        if duplicates:
            raise DuplicateSku(duplicates[0])

    def publish(self) -> None:
        self._store.items = {item_id: copy.copy(item) for item_id, item in self._working.items()}
