"""The read port with SQLAlchemy Core: one statement per call, no ORM, no transaction.

Statements are built once, with bound parameters, at import: building a ``select()`` costs
more Python time per request than executing its cached compiled form. Each runs on a
``StatementReader``: the database's read engine here, a SQLite file's reader threads
(``adapters.sqlite_reader``), or a replica (``adapters.replicas``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any, Protocol

from sqlalchemy import ColumnElement, Executable, RowMapping, Select, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.database_errors import classify
from adapters.orm import items, users
from service_layer.reads import EVERY_ITEM, AbstractReads, ItemFilter
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
# A filter's shape (which conditions it has) picks its statement, built once per shape: the
# values are bound parameters, so one cached compiled form serves every search.
_Shape = tuple[bool, bool, bool | None, bool, bool]
# Characters LIKE would take as wildcards are escaped with this one (no backslash: SQLite has
# no default escape character, and a backslash means something else to each quoting layer).
_LIKE_ESCAPE = "/"


def _shape(where: ItemFilter) -> _Shape:
    return (
        where.sku is not None,
        where.title_contains is not None,
        where.in_stock,
        where.min_price is not None,
        where.max_price is not None,
    )


def _filter_parameters(where: ItemFilter) -> dict[str, Any]:
    parameters: dict[str, Any] = {}
    if where.sku is not None:
        parameters["sku"] = where.sku
    if where.title_contains is not None:
        parameters["title_pattern"] = f"%{_like_literally(where.title_contains)}%"
    if where.min_price is not None:
        parameters["min_price"] = where.min_price
    if where.max_price is not None:
        parameters["max_price"] = where.max_price
    return parameters


def _like_literally(text: str) -> str:
    """``text`` as a LIKE pattern that matches exactly it: the user's ``%`` and ``_`` are
    characters to find, not wildcards."""
    for special in (_LIKE_ESCAPE, "%", "_"):
        text = text.replace(special, _LIKE_ESCAPE + special)
    return text


def _conditions(shape: _Shape) -> list[ColumnElement[bool]]:
    sku, title, in_stock, min_price, max_price = shape
    found: list[ColumnElement[bool]] = []
    if sku:  # on the SKU's unique index: at most one row
        found.append(items.c.sku == bindparam("sku"))
    if title:
        # ILIKE on PostgreSQL, on the trigram index (migration 0010); lower() LIKE lower() on
        # SQLite, a scan (case folds ASCII letters only there).
        found.append(items.c.title.ilike(bindparam("title_pattern"), escape=_LIKE_ESCAPE))
    if in_stock is not None:
        found.append(items.c.quantity > 0 if in_stock else items.c.quantity == 0)
    if min_price:  # the parameter takes the column's type: a Decimal bound as cents
        found.append(items.c.price_cents >= bindparam("min_price"))
    if max_price:
        found.append(items.c.price_cents <= bindparam("max_price"))
    return found


@cache
def _items_page(shape: _Shape, keyed: bool) -> Select[Any]:
    statement = _ITEMS.where(*_conditions(shape))
    if keyed:
        statement = statement.where(items.c.id > bindparam("after_id"))
    return statement.order_by(items.c.id).offset(bindparam("skip")).limit(bindparam("limit"))


@cache
def _items_count(shape: _Shape) -> Select[Any]:
    return select(func.count().label("count")).select_from(items).where(*_conditions(shape))


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
        where: ItemFilter = EVERY_ITEM,
    ) -> list[ItemView]:
        parameters = {"skip": skip, "limit": limit, **_filter_parameters(where)}
        if after_id is not None:
            parameters["after_id"] = after_id
        statement = _items_page(_shape(where), after_id is not None)
        rows = await self._reader.fetch_all(statement, parameters)
        return [ItemView(**row) for row in rows]

    async def count_items(self, where: ItemFilter = EVERY_ITEM) -> int:
        rows = await self._reader.fetch_all(_items_count(_shape(where)), _filter_parameters(where))
        return int(rows[0]["count"])

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
