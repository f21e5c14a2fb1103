"""The repository ports: what the service layer may ask of storage, and nothing more."""

from __future__ import annotations

import abc
from collections.abc import Sequence

from domain.errors import UnknownItem, UnknownUser
from domain.item import Item
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

    async def list(self, *, skip: int = 0, limit: int = 100) -> Sequence[Item]:
        found = await self._list(skip=skip, limit=limit)
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
    async def _list(self, *, skip: int, limit: int) -> Sequence[Item]: ...

    @abc.abstractmethod
    async def _delete(self, item: Item) -> None: ...


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
