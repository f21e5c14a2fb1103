"""Repositories backed by an ``AsyncSession`` that the unit of work owns."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import TypeVar

from sqlalchemy import (
    ColumnElement,
    CursorResult,
    Select,
    bindparam,
    delete,
    exists,
    func,
    select,
    tuple_,
)
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.orm import idempotency_keys, items, order_lines, orders, users
from domain.errors import UnknownItem, UnknownOrder, UnknownUser
from domain.idempotency import IdempotencyRecord
from domain.item import Item
from domain.order import Order, OrderStatus
from domain.user import User
from service_layer.repositories import (
    AbstractIdempotencyRepository,
    AbstractItemRepository,
    AbstractOrderRepository,
    AbstractUserRepository,
    Seen,
)

T = TypeVar("T")


class SqlAlchemyRepository:
    """A repository works inside the session of the unit of work that built it."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session


@cache
def _locking_select(column: str) -> Select[Item]:
    """Items whose ``column`` is in the bound list, locked in id order; built once per column
    (after the mappers exist), since constructing a select() costs more Python time per call
    than executing its cached compiled form.

    populate_existing: a row locked now must show its latest committed values, even if this
    session loaded it earlier. with_for_update is ignored by SQLite, whose write
    transactions hold the database lock.
    """
    return (
        select(Item)
        .where(items.c[column].in_(bindparam("values", expanding=True)))
        .order_by(items.c.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


class SqlAlchemyItemRepository(SqlAlchemyRepository, AbstractItemRepository):
    def __init__(self, session: AsyncSession) -> None:
        super().__init__(session)
        self.seen = Seen()

    async def add(self, item: Item) -> None:
        self._session.add(self.seen.saw(item))

    async def get(self, item_id: int) -> Item:
        item = _found(await self._session.get(Item, item_id), UnknownItem(item_id))
        return self.seen.saw(item)

    async def get_for_update(self, item_id: int) -> Item:
        # with_for_update is ignored by SQLite, whose write transactions hold the database lock.
        item = await self._session.get(Item, item_id, with_for_update=True)
        return self.seen.saw(_found(item, UnknownItem(item_id)))

    async def list(
        self, *, skip: int = 0, limit: int = 100, after_id: int | None = None
    ) -> Sequence[Item]:
        statement = select(Item).order_by(items.c.id).offset(skip).limit(limit)
        if after_id is not None:
            statement = statement.where(items.c.id > after_id)
        return self.seen.saw_all((await self._session.scalars(statement)).all())

    async def lock_by_skus(self, skus: Sequence[str]) -> Sequence[Item]:
        values = sorted(set(skus))
        found = await self._session.scalars(_locking_select("sku"), {"values": values})
        return self.seen.saw_all(found.all())

    async def lock_by_ids(self, item_ids: Sequence[int]) -> Sequence[Item]:
        values = sorted(set(item_ids))
        found = await self._session.scalars(_locking_select("id"), {"values": values})
        return self.seen.saw_all(found.all())

    async def delete(self, item: Item) -> None:
        await self._session.delete(item)


class SqlAlchemyUserRepository(SqlAlchemyRepository, AbstractUserRepository):
    async def add(self, user: User) -> None:
        self._session.add(user)

    async def get(self, user_id: int) -> User:
        return _found(await self._session.get(User, user_id), UnknownUser(user_id))

    async def get_for_update(self, user_id: int) -> User:
        # populate_existing: the row as it is once locked, not as this session first saw it.
        user = await self._session.get(User, user_id, with_for_update=True, populate_existing=True)
        return _found(user, UnknownUser(user_id))

    async def get_by_email(self, email: str, *, for_update: bool = False) -> User | None:
        statement = select(User).where(users.c.email == email)
        if for_update:
            statement = statement.with_for_update().execution_options(populate_existing=True)
        return (await self._session.scalars(statement)).one_or_none()

    async def list(self, *, skip: int = 0, limit: int = 100) -> Sequence[User]:
        statement = select(User).order_by(users.c.id).offset(skip).limit(limit)
        return (await self._session.scalars(statement)).all()


class SqlAlchemyOrderRepository(SqlAlchemyRepository, AbstractOrderRepository):
    def __init__(self, session: AsyncSession) -> None:
        super().__init__(session)
        self.seen = Seen()

    async def add(self, order: Order) -> None:
        self._session.add(self.seen.saw(order))
        # Flushed now so the id exists for whatever else this unit records (an idempotency
        # key); the statements would be sent at commit anyway, so this costs no round trip.
        await self._session.flush()

    async def get(self, order_id: int) -> Order:
        order = _found(await self._session.get(Order, order_id), UnknownOrder(order_id))
        return self.seen.saw(order)

    async def get_for_update(self, order_id: int) -> Order:
        # populate_existing: a row locked now shows its latest committed values, even if
        # this session loaded it earlier.
        order = await self._session.get(
            Order, order_id, with_for_update=True, populate_existing=True
        )
        return self.seen.saw(_found(order, UnknownOrder(order_id)))

    async def list(
        self,
        *,
        customer_id: int | None,
        status: OrderStatus | None = None,
        skip: int = 0,
        limit: int = 100,
        before_id: int | None = None,
    ) -> Sequence[Order]:
        statement = select(Order).order_by(orders.c.id.desc()).offset(skip).limit(limit)
        statement = statement.where(*_order_filters(customer_id, status))
        if before_id is not None:  # (customer_id, id) is indexed: a customer's page is a seek
            statement = statement.where(orders.c.id < before_id)
        return self.seen.saw_all((await self._session.scalars(statement)).all())

    async def count(self, *, customer_id: int | None, status: OrderStatus | None = None) -> int:
        statement = select(func.count()).select_from(orders)
        statement = statement.where(*_order_filters(customer_id, status))
        return int(await self._session.scalar(statement) or 0)

    async def exists_for_item(self, item_id: int) -> bool:
        statement = select(exists().where(order_lines.c.item_id == item_id))
        return bool(await self._session.scalar(statement))


class SqlAlchemyIdempotencyRepository(SqlAlchemyRepository, AbstractIdempotencyRepository):
    async def get(self, customer_id: int, key: str) -> IdempotencyRecord | None:
        statement = select(IdempotencyRecord).where(
            idempotency_keys.c.customer_id == customer_id, idempotency_keys.c.key == key
        )
        return (await self._session.scalars(statement)).one_or_none()

    async def add(self, record: IdempotencyRecord) -> None:
        self._session.add(record)

    async def remove(self, record: IdempotencyRecord) -> None:
        # A plain DELETE, sent now, rather than session.delete(): the row may be gone already
        # (a purge), which the ORM would report as a stale row; and the key must be free
        # before this unit stores it again. Out of the session too, so the new record with
        # the same primary key is not mistaken for this one.
        if record in self._session:
            self._session.expunge(record)
        await self._session.execute(
            delete(idempotency_keys).where(
                idempotency_keys.c.customer_id == record.customer_id,
                idempotency_keys.c.key == record.key,
            )
        )

    async def remove_created_before(self, cutoff: datetime, *, limit: int) -> int:
        # One statement per batch. SKIP LOCKED (PostgreSQL; SQLite's writers take turns
        # anyway): concurrent purges take different rows instead of queueing on each other,
        # and neither waits for an order that is renewing one of these keys right now.
        oldest = (
            select(idempotency_keys.c.customer_id, idempotency_keys.c.key)
            .where(idempotency_keys.c.created_at <= cutoff)
            .order_by(idempotency_keys.c.created_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        result = await self._session.execute(
            delete(idempotency_keys).where(
                tuple_(idempotency_keys.c.customer_id, idempotency_keys.c.key).in_(oldest)
            )
        )
        assert isinstance(result, CursorResult)
        return result.rowcount


def _order_filters(
    customer_id: int | None, status: OrderStatus | None
) -> list[ColumnElement[bool]]:
    found: list[ColumnElement[bool]] = []
    if customer_id is not None:
        found.append(orders.c.customer_id == customer_id)
    if status is not None:
        found.append(orders.c.status == status)
    return found


def _found(row: T | None, missing: Exception) -> T:
    if row is None:
        raise missing
    return row
