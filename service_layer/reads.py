"""The read port: read models straight from committed data, for queries that change nothing.

Names: a ``*View`` (``service_layer.views``) is a read model, plain data; ``*Reads`` is where
views come from: this port, ``adapters.reads.SqlAlchemyReads`` and the tests' fake.

A read needs no aggregate, no identity map and no transaction, so it does not go through a
unit of work: it is a dependency of its own, injected where it is used. Each call runs one
statement on committed data and holds a connection only while that statement runs; an
implementation is shared, and safe to call concurrently. Commands still go through
aggregates inside ``async with uow``. Failures surface as ``service_layer.errors``.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence

from service_layer.views import ItemView, UserView


class AbstractReads(abc.ABC):
    # Reads that see everything committed so far, whatever sources there are: for what must
    # not lag (an account the moment it is revoked). The same reads where every source is
    # the primary; the primary's alone where replicas serve the others.
    latest: AbstractReads

    @abc.abstractmethod
    async def item(self, item_id: int) -> ItemView | None: ...

    @abc.abstractmethod
    async def items(
        self,
        *,
        skip: int = 0,
        limit: int = 100,
        after_id: int | None = None,
        sku: str | None = None,
    ) -> list[ItemView]:
        """In id order; ``after_id`` pages by key, ``skip`` by offset; with ``sku`` (already
        normalised, ``domain.item.normalise_sku``), only the item with exactly that SKU."""

    @abc.abstractmethod
    async def items_by_stock(self, *, below: int | None = None, limit: int = 100) -> list[ItemView]:
        """Lowest stock first (ties in id order), at most ``limit``; with ``below``, only the
        items with fewer than ``below`` units (``quantity < below``)."""

    @abc.abstractmethod
    async def items_by_ids(self, item_ids: Sequence[int]) -> list[ItemView]:
        """The items among ``item_ids`` that exist, in id order."""

    @abc.abstractmethod
    async def user(self, user_id: int) -> UserView | None: ...
