"""Read models with SQLAlchemy Core: one statement, no ORM, no transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, Select, select
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.database import read_only
from adapters.orm import items, users
from service_layer.read_views import AbstractReadViews
from service_layer.views import ItemView, UserView

_ITEM_COLUMNS = (
    items.c.id,
    items.c.sku,
    items.c.title,
    items.c.description,
    items.c.price_cents.label("price"),
    items.c.quantity,
)
_USER_COLUMNS = (users.c.id, users.c.email, users.c.role, users.c.is_active, users.c.created_at)


class SqlAlchemyReadViews(AbstractReadViews):
    def __init__(self, engine: AsyncEngine) -> None:
        # The same pool as the units of work, with reads outside transactions (see read_only).
        self._engine = read_only(engine)

    async def _rows(self, statement: Select[Any]) -> list[Row[Any]]:
        async with self._engine.connect() as connection:
            result = await connection.execute(statement)
            return list(result.all())

    async def item(self, item_id: int) -> ItemView | None:
        rows = await self._rows(select(*_ITEM_COLUMNS).where(items.c.id == item_id))
        return ItemView(**rows[0]._mapping) if rows else None

    async def items(
        self, *, skip: int = 0, limit: int = 100, after_id: int | None = None
    ) -> list[ItemView]:
        statement = select(*_ITEM_COLUMNS).order_by(items.c.id).offset(skip).limit(limit)
        if after_id is not None:
            statement = statement.where(items.c.id > after_id)
        return [ItemView(**row._mapping) for row in await self._rows(statement)]

    async def low_stock(self, item_ids: Sequence[int], *, threshold: int) -> list[ItemView]:
        statement = (
            select(*_ITEM_COLUMNS)
            .where(items.c.id.in_(sorted(set(item_ids))), items.c.quantity <= threshold)
            .order_by(items.c.id)
        )
        return [ItemView(**row._mapping) for row in await self._rows(statement)]

    async def user(self, user_id: int) -> UserView | None:
        rows = await self._rows(select(*_USER_COLUMNS).where(users.c.id == user_id))
        return UserView(**rows[0]._mapping) if rows else None
