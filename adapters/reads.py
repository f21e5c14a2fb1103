"""The read port with SQLAlchemy Core: one statement per call, no ORM, no transaction.

Statements are built once, with bound parameters, at import: building a ``select()`` costs
more Python time per request than executing its cached compiled form.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any, Self

from sqlalchemy import Executable, RowMapping, bindparam, select

from adapters.database import Database
from adapters.orm import items
from adapters.replicas import parse_position
from adapters.repositories import USER_VIEW
from service_layer.reads import AbstractReads
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
# No index on quantity: one scan keeping the ``limit`` lowest (a top-N sort), bounded memory.
_BY_STOCK = _ITEMS.order_by(items.c.quantity, items.c.id).limit(bindparam("limit"))
_BY_STOCK_BELOW = (
    _ITEMS.where(items.c.quantity < bindparam("below"))
    .order_by(items.c.quantity, items.c.id)
    .limit(bindparam("limit"))
)
_BY_IDS = _ITEMS.where(items.c.id.in_(bindparam("item_ids", expanding=True))).order_by(items.c.id)
_USER_BY_ID = USER_VIEW


class SqlAlchemyReads(AbstractReads):
    """Runs each statement through ``Database.fetch_all``: outside any transaction, on the
    database's read path (see ``adapters.database``)."""

    def __init__(
        self, database: Database, *, on_replica: bool = True, at_least: int | None = None
    ) -> None:
        self._database = database
        self._on_replica = on_replica  # a replica may serve (when the database has any)
        self._at_least = at_least  # one that has replayed this WAL position, if given

    def after(self, position: str | None) -> Self:
        at_least = parse_position(position) if position is not None else None
        return self._with(self._on_replica, at_least)

    def latest(self) -> Self:
        return self._with(on_replica=False, at_least=None)

    def _with(self, on_replica: bool, at_least: int | None) -> Self:
        routed = copy.copy(self)  # a shallow copy: the same database, only the routing differs
        routed._on_replica, routed._at_least = on_replica, at_least
        return routed

    async def _rows(self, statement: Executable, parameters: dict[str, Any]) -> list[RowMapping]:
        return await self._database.fetch_all(
            statement, parameters, on_replica=self._on_replica, at_least=self._at_least
        )

    async def item(self, item_id: int) -> ItemView | None:
        rows = await self._rows(_ITEM_BY_ID, {"item_id": item_id})
        return ItemView(**rows[0]) if rows else None

    async def items(
        self, *, skip: int = 0, limit: int = 100, after_id: int | None = None
    ) -> list[ItemView]:
        if after_id is None:
            rows = await self._rows(_ITEMS_PAGE, {"skip": skip, "limit": limit})
        else:
            parameters = {"skip": skip, "limit": limit, "after_id": after_id}
            rows = await self._rows(_ITEMS_PAGE_AFTER, parameters)
        return [ItemView(**row) for row in rows]

    async def items_by_stock(self, *, below: int | None = None, limit: int = 100) -> list[ItemView]:
        if below is None:
            rows = await self._rows(_BY_STOCK, {"limit": limit})
        else:
            rows = await self._rows(_BY_STOCK_BELOW, {"below": below, "limit": limit})
        return [ItemView(**row) for row in rows]

    async def items_by_ids(self, item_ids: Sequence[int]) -> list[ItemView]:
        parameters = {"item_ids": sorted(set(item_ids))}
        return [ItemView(**row) for row in await self._rows(_BY_IDS, parameters)]

    async def user(self, user_id: int) -> UserView | None:
        rows = await self._rows(_USER_BY_ID, {"user_id": user_id})
        return UserView(**rows[0]) if rows else None
