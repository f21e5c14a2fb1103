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
from dataclasses import dataclass
from decimal import Decimal

from service_layer.views import ItemView, UserView


@dataclass(frozen=True, slots=True)
class ItemFilter:
    """Which items a listing shows: every condition given holds (``None``: no condition)."""

    sku: str | None = None  # exactly this SKU, already normalised (``domain.item.normalise_sku``)
    # The title contains this text, in any case, every character taken literally (a ``%`` or
    # ``_`` in it is that character, not a wildcard).
    title_contains: str | None = None
    in_stock: bool | None = None  # True: quantity > 0; False: quantity == 0
    min_price: Decimal | None = None  # inclusive
    max_price: Decimal | None = None  # inclusive


EVERY_ITEM = ItemFilter()


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
        where: ItemFilter = EVERY_ITEM,
    ) -> list[ItemView]:
        """The items ``where`` admits, in id order; ``after_id`` pages by key (only ids above
        it: stable while rows come and go), ``skip`` by offset."""

    @abc.abstractmethod
    async def count_items(self, where: ItemFilter = EVERY_ITEM) -> int:
        """How many items ``where`` admits."""

    @abc.abstractmethod
    async def items_by_stock(self, *, below: int | None = None, limit: int = 100) -> list[ItemView]:
        """Lowest stock first (ties in id order), at most ``limit``; with ``below``, only the
        items with fewer than ``below`` units (``quantity < below``)."""

    @abc.abstractmethod
    async def items_by_ids(self, item_ids: Sequence[int]) -> list[ItemView]:
        """The items among ``item_ids`` that exist, in id order."""

    @abc.abstractmethod
    async def user(self, user_id: int) -> UserView | None: ...
