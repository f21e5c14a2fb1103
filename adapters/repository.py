"""The repository ports: what the service layer may ask of storage, and nothing more."""

from __future__ import annotations

import abc
from collections.abc import Sequence

from domain.errors import UnknownItem, UnknownOrder, UnknownUser
from domain.idempotency import IdempotencyRecord
from domain.item import Item
from domain.order import Order
from domain.user import User


class AbstractItemRepository(abc.ABC):
    """Collection-like access to items.

    Every aggregate handed out is recorded in ``seen`` so a unit of work knows what it touched
    (later: collecting domain events). Subclasses implement the underscored hooks only.
    """

    def __init__(self) -> None:
        self.seen: set[Item] = set()

    async def add(self, item: Item) -> None:
        await self._add(item)
        self.seen.add(item)

    async def get(self, item_id: int) -> Item:
        item = await self._get(item_id, for_update=False)
        if item is None:
            raise UnknownItem(item_id)
        self.seen.add(item)
        return item

    async def get_for_update(self, item_id: int) -> Item:
        """Like ``get``, but the row stays locked against other writers until the unit ends."""
        item = await self._get(item_id, for_update=True)
        if item is None:
            raise UnknownItem(item_id)
        self.seen.add(item)
        return item

    async def list(
        self, *, skip: int = 0, limit: int = 100, after_id: int | None = None
    ) -> Sequence[Item]:
        """In id order. ``after_id`` pages by key (stable while rows come and go), ``skip``
        by offset (what the classic CRUD contract offers)."""
        found = await self._list(skip=skip, limit=limit, after_id=after_id)
        self.seen.update(found)
        return found

    async def lock_by_skus(self, skus: Sequence[str]) -> Sequence[Item]:
        """The items with these SKUs (missing ones are simply absent), locked in id order.

        One fixed lock order for every caller is what keeps two orders over the same items,
        listed in opposite orders, from deadlocking each other.
        """
        found = await self._lock(skus=sorted(set(skus)), ids=None)
        self.seen.update(found)
        return found

    async def lock_by_ids(self, item_ids: Sequence[int]) -> Sequence[Item]:
        found = await self._lock(skus=None, ids=sorted(set(item_ids)))
        self.seen.update(found)
        return found

    async def delete(self, item: Item) -> None:
        await self._delete(item)
        self.seen.discard(item)

    @abc.abstractmethod
    async def _add(self, item: Item) -> None: ...

    @abc.abstractmethod
    async def _get(self, item_id: int, *, for_update: bool) -> Item | None: ...

    @abc.abstractmethod
    async def _list(self, *, skip: int, limit: int, after_id: int | None) -> Sequence[Item]: ...

    @abc.abstractmethod
    async def _delete(self, item: Item) -> None: ...

    @abc.abstractmethod
    async def _lock(
        self, *, skus: Sequence[str] | None, ids: Sequence[int] | None
    ) -> Sequence[Item]: ...


class AbstractUserRepository(abc.ABC):
    def __init__(self) -> None:
        self.seen: set[User] = set()

    async def add(self, user: User) -> None:
        await self._add(user)
        self.seen.add(user)

    async def get(self, user_id: int) -> User:
        user = await self._get(user_id)
        if user is None:
            raise UnknownUser(user_id)
        self.seen.add(user)
        return user

    async def get_by_email(self, email: str) -> User | None:
        """The user with this (already normalised) email, or ``None``."""
        user = await self._get_by_email(email)
        if user is not None:
            self.seen.add(user)
        return user

    @abc.abstractmethod
    async def _add(self, user: User) -> None: ...

    @abc.abstractmethod
    async def _get(self, user_id: int) -> User | None: ...

    @abc.abstractmethod
    async def _get_by_email(self, email: str) -> User | None: ...


class AbstractOrderRepository(abc.ABC):
    def __init__(self) -> None:
        self.seen: set[Order] = set()

    async def add(self, order: Order) -> None:
        """Store a new order; its id (and its lines' ids) are assigned on return."""
        await self._add(order)
        self.seen.add(order)

    async def get(self, order_id: int) -> Order:
        return self._saw(await self._get(order_id, for_update=False), order_id)

    async def get_for_update(self, order_id: int) -> Order:
        return self._saw(await self._get(order_id, for_update=True), order_id)

    async def list(
        self, *, customer_id: int | None, skip: int = 0, limit: int = 100
    ) -> Sequence[Order]:
        """Newest first; one customer's orders, or everyone's when ``customer_id`` is None."""
        found = await self._list(customer_id=customer_id, skip=skip, limit=limit)
        self.seen.update(found)
        return found

    async def exists_for_item(self, item_id: int) -> bool:
        return await self._exists_for_item(item_id)

    def _saw(self, order: Order | None, order_id: int) -> Order:
        if order is None:
            raise UnknownOrder(order_id)
        self.seen.add(order)
        return order

    @abc.abstractmethod
    async def _add(self, order: Order) -> None: ...

    @abc.abstractmethod
    async def _get(self, order_id: int, *, for_update: bool) -> Order | None: ...

    @abc.abstractmethod
    async def _list(self, *, customer_id: int | None, skip: int, limit: int) -> Sequence[Order]: ...

    @abc.abstractmethod
    async def _exists_for_item(self, item_id: int) -> bool: ...


class AbstractIdempotencyRepository(abc.ABC):
    @abc.abstractmethod
    async def get(self, customer_id: int, key: str) -> IdempotencyRecord | None: ...

    @abc.abstractmethod
    async def add(self, record: IdempotencyRecord) -> None: ...
