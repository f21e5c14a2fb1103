"""The lean read path: read models straight from committed data.

Queries that change nothing need no aggregate, no identity map and no transaction. A unit of
work exposes them as ``uow.views``, usable without entering the unit: each call takes a
connection, runs one statement outside any transaction (no BEGIN/ROLLBACK round trips) and
gives the connection back. Commands still go through aggregates inside ``async with uow``.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence

from service_layer.views import ItemView, UserView


class AbstractReadViews(abc.ABC):
    @abc.abstractmethod
    async def item(self, item_id: int) -> ItemView | None: ...

    @abc.abstractmethod
    async def items(
        self, *, skip: int = 0, limit: int = 100, after_id: int | None = None
    ) -> list[ItemView]:
        """In id order; ``after_id`` pages by key, ``skip`` by offset."""

    @abc.abstractmethod
    async def low_stock(self, item_ids: Sequence[int], *, threshold: int) -> list[ItemView]:
        """Items among ``item_ids`` with at most ``threshold`` left, in id order."""

    @abc.abstractmethod
    async def user(self, user_id: int) -> UserView | None: ...
