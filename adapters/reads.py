"""The read port with SQLAlchemy Core: one statement per call, no ORM, no transaction.

Statements are built once, with bound parameters, at import: building a ``select()`` costs
more Python time per request than executing its cached compiled form. Each runs on a
``StatementReader``: the database's read engine here, a SQLite file's reader threads
(``adapters.sqlite_reader``), or a replica (``adapters.replicas``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from sqlalchemy import Executable, RowMapping, bindparam, select
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.database_errors import classify
from adapters.orm import items, users
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
_ITEMS_AFTER = _ITEMS.where(items.c.id > bindparam("after_id")).order_by(items.c.id)
_ITEMS_PAGE_AFTER = _ITEMS_AFTER.offset(bindparam("skip")).limit(bindparam("limit"))
# By (after_id given, sku given). A SKU is on a unique index: at most one row, though
# skip/limit still apply as on any page.
_SKU_IS = items.c.sku == bindparam("sku")
_PAGES = {
    (False, False): _ITEMS_PAGE,
    (True, False): _ITEMS_PAGE_AFTER,
    (False, True): _ITEMS_PAGE.where(_SKU_IS),
    (True, True): _ITEMS_PAGE_AFTER.where(_SKU_IS),
}
# No index on quantity: one scan keeping the ``limit`` lowest (a top-N sort), bounded memory.
_BY_STOCK = _ITEMS.order_by(items.c.quantity, items.c.id).limit(bindparam("limit"))
_BY_STOCK_BELOW = _BY_STOCK.where(items.c.quantity < bindparam("below"))
_BY_IDS = _ITEMS.where(items.c.id.in_(bindparam("item_ids", expanding=True))).order_by(items.c.id)

_USERS = select(
    users.c.id,
    users.c.email,
    users.c.role,
    users.c.is_active,
    users.c.created_at,
    users.c.credentials_version,
)
_USER_BY_ID = _USERS.where(users.c.id == bindparam("user_id"))


class StatementReader(Protocol):
    async def fetch_all(
        self, statement: Executable, parameters: Mapping[str, Any]
    ) -> list[RowMapping]:
        """The statement's rows, read outside any transaction; failures classified
        (``adapters.database_errors``)."""


class EngineReader:
    """Each statement on a connection of its own, held only while the statement runs."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def fetch_all(
        self, statement: Executable, parameters: Mapping[str, Any]
    ) -> list[RowMapping]:
        try:
            async with self.engine.connect() as connection:
                return list((await connection.execute(statement, parameters)).mappings())
        except Exception as error:
            classified = classify(error)
            if classified is None:
                raise
            raise classified from error


class SqlAlchemyReads(AbstractReads):
    """``latest``: reads on the primary, for what must not lag (an account); ``self`` unless
    the reader may serve from replicas (``adapters.replicas.replica_reads``)."""

    def __init__(self, reader: StatementReader, *, latest: SqlAlchemyReads | None = None) -> None:
        self._reader = reader
        self.latest = latest or self

    async def item(self, item_id: int) -> ItemView | None:
        rows = await self._reader.fetch_all(_ITEM_BY_ID, {"item_id": item_id})
        return ItemView(**rows[0]) if rows else None

    async def items(
        self,
        *,
        skip: int = 0,
        limit: int = 100,
        after_id: int | None = None,
        sku: str | None = None,
    ) -> list[ItemView]:
        parameters: dict[str, Any] = {"skip": skip, "limit": limit}
        if after_id is not None:
            parameters["after_id"] = after_id
        if sku is not None:
            parameters["sku"] = sku
        statement = _PAGES[after_id is not None, sku is not None]
        rows = await self._reader.fetch_all(statement, parameters)
        return [ItemView(**row) for row in rows]

    async def items_by_stock(self, *, below: int | None = None, limit: int = 100) -> list[ItemView]:
        if below is None:
            rows = await self._reader.fetch_all(_BY_STOCK, {"limit": limit})
        else:
            rows = await self._reader.fetch_all(_BY_STOCK_BELOW, {"below": below, "limit": limit})
        return [ItemView(**row) for row in rows]

    async def items_by_ids(self, item_ids: Sequence[int]) -> list[ItemView]:
        parameters = {"item_ids": sorted(set(item_ids))}
        return [ItemView(**row) for row in await self._reader.fetch_all(_BY_IDS, parameters)]

    async def user(self, user_id: int) -> UserView | None:
        rows = await self._reader.fetch_all(_USER_BY_ID, {"user_id": user_id})
        return UserView(**rows[0]) if rows else None
