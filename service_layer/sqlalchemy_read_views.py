"""Read models with SQLAlchemy Core: one statement, no ORM, no transaction.

Statements are built once, with bound parameters, at import: building a ``select()`` costs
more Python time per request than executing its cached compiled form.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Engine, Executable, Row, bindparam, select
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.database import read_only
from adapters.orm import items, users
from adapters.sqlite_reader import reader_for
from service_layer import failures
from service_layer.read_views import AbstractReadViews
from service_layer.views import ItemView, UserView

_ITEMS = select(
    items.c.id,
    items.c.sku,
    items.c.title,
    items.c.description,
    items.c.price_cents.label("price"),
    items.c.quantity,
)
_ITEM_BY_ID = _ITEMS.where(items.c.id == bindparam("item_id"))
_ITEMS_PAGE = _ITEMS.order_by(items.c.id).offset(bindparam("skip")).limit(bindparam("limit"))
_ITEMS_PAGE_AFTER = (
    _ITEMS.where(items.c.id > bindparam("after_id"))
    .order_by(items.c.id)
    .offset(bindparam("skip"))
    .limit(bindparam("limit"))
)
_LOW_STOCK = _ITEMS.where(
    items.c.id.in_(bindparam("item_ids", expanding=True)),
    items.c.quantity <= bindparam("threshold"),
).order_by(items.c.id)
_USER_BY_ID = select(
    users.c.id, users.c.email, users.c.role, users.c.is_active, users.c.created_at
).where(users.c.id == bindparam("user_id"))


class SqlAlchemyReadViews(AbstractReadViews):
    def __init__(self, engine: AsyncEngine) -> None:
        # The same pool as the units of work, with reads outside transactions (see read_only);
        # on a SQLite file, the engine's sync reader instead (see adapters.sqlite_reader).
        self._engine = read_only(engine)
        self._sqlite_reader = reader_for(engine)

    async def _rows(self, statement: Executable, parameters: Mapping[str, Any]) -> list[Row[Any]]:
        try:
            if self._sqlite_reader is not None:

                def read(engine: Engine) -> list[Row[Any]]:
                    with engine.connect() as connection:
                        return list(connection.execute(statement, parameters).all())

                return await self._sqlite_reader.run(read)
            async with self._engine.connect() as connection:
                result = await connection.execute(statement, parameters)
                return list(result.all())
        except Exception as error:
            # Same policy as a unit of work (failures.py): unreachable or exhausted -> 503.
            translated = failures.classify(error)
            if translated is None:
                raise
            raise translated from error

    async def item(self, item_id: int) -> ItemView | None:
        rows = await self._rows(_ITEM_BY_ID, {"item_id": item_id})
        return ItemView(**rows[0]._mapping) if rows else None

    async def items(
        self, *, skip: int = 0, limit: int = 100, after_id: int | None = None
    ) -> list[ItemView]:
        if after_id is None:
            rows = await self._rows(_ITEMS_PAGE, {"skip": skip, "limit": limit})
        else:
            parameters = {"skip": skip, "limit": limit, "after_id": after_id}
            rows = await self._rows(_ITEMS_PAGE_AFTER, parameters)
        return [ItemView(**row._mapping) for row in rows]

    async def low_stock(self, item_ids: Sequence[int], *, threshold: int) -> list[ItemView]:
        parameters = {"item_ids": sorted(set(item_ids)), "threshold": threshold}
        return [ItemView(**row._mapping) for row in await self._rows(_LOW_STOCK, parameters)]

    async def user(self, user_id: int) -> UserView | None:
        rows = await self._rows(_USER_BY_ID, {"user_id": user_id})
        return UserView(**rows[0]._mapping) if rows else None
