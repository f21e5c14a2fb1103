"""Repositories backed by an ``AsyncSession`` that the unit of work owns."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.orm import items, users
from adapters.repository import AbstractItemRepository, AbstractUserRepository
from domain.item import Item
from domain.user import User


class SqlAlchemyItemRepository(AbstractItemRepository):
    def __init__(self, session: AsyncSession) -> None:
        super().__init__()
        self._session = session

    async def _add(self, item: Item) -> None:
        self._session.add(item)

    async def _get(self, item_id: int, *, for_update: bool) -> Item | None:
        # with_for_update is ignored by SQLite, whose write transactions hold the database lock.
        return await self._session.get(Item, item_id, with_for_update=for_update or None)

    async def _list(self, *, skip: int, limit: int) -> Sequence[Item]:
        statement = select(Item).order_by(items.c.id).offset(skip).limit(limit)
        return (await self._session.scalars(statement)).all()

    async def _delete(self, item: Item) -> None:
        await self._session.delete(item)


class SqlAlchemyUserRepository(AbstractUserRepository):
    def __init__(self, session: AsyncSession) -> None:
        super().__init__()
        self._session = session

    async def _add(self, user: User) -> None:
        self._session.add(user)

    async def _get(self, user_id: int) -> User | None:
        return await self._session.get(User, user_id)

    async def _get_by_email(self, email: str) -> User | None:
        statement = select(User).where(users.c.email == email)
        return (await self._session.scalars(statement)).one_or_none()
