"""Catalog use cases. Each one is exactly one unit of work."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from enum import Enum
from typing import Final

from domain.errors import DuplicateSku, ItemHasOrders, UnknownItem, UnknownSku
from domain.item import Item, generate_sku, is_running_low, normalise_sku
from service_layer.pages import Page, page_of
from service_layer.reads import EVERY_ITEM, AbstractReads, ItemFilter
from service_layer.retry import retry_transient
from service_layer.unit_of_work import AbstractUnitOfWork
from service_layer.use_cases import use_case
from service_layer.views import ItemView

MAX_PAGE_SIZE: Final = 100


class _Unset(Enum):
    UNSET = "UNSET"


UNSET: Final = _Unset.UNSET
"""Marks a field an update leaves alone (distinct from ``None``, which clears a description)."""


@dataclass(frozen=True, slots=True)
class NewItem:
    title: str
    sku: str | None = None
    description: str | None = None
    price: Decimal = Decimal("0")
    quantity: int = 0


@dataclass(frozen=True, slots=True)
class ItemChanges:
    sku: str | _Unset = UNSET
    title: str | _Unset = UNSET
    description: str | _Unset | None = UNSET
    price: Decimal | _Unset = UNSET
    quantity: int | _Unset = UNSET


@use_case
@retry_transient()
async def add_item(uow: AbstractUnitOfWork, new: NewItem) -> ItemView:
    item = Item.create(
        sku=new.sku if new.sku is not None else generate_sku(),
        title=new.title,
        description=new.description,
        price=new.price,
        quantity=new.quantity,
    )
    async with uow:
        await uow.items.add(item)
        await _commit_naming_sku(uow, item.sku)
        return ItemView.from_domain(item)


async def _commit_naming_sku(uow: AbstractUnitOfWork, sku: str) -> None:
    # The unique constraint is the one authority on SKU clashes (a prior SELECT would race);
    # it reports which constraint failed, so the SKU is named here where it is known.
    try:
        await uow.commit()
    except DuplicateSku as error:
        raise DuplicateSku(sku) from error


@use_case
async def get_item(reads: AbstractReads, item_id: int) -> ItemView:
    view = await reads.item(item_id)
    if view is None:
        raise UnknownItem(item_id)
    return view


@use_case
async def list_items(
    reads: AbstractReads,
    *,
    skip: int = 0,
    limit: int = 100,
    after_id: int | None = None,
    where: ItemFilter = EVERY_ITEM,
    count: bool = False,
) -> Page[ItemView]:
    """A page of the catalog in id order: the items ``where`` admits, after the item
    ``after_id`` (a keyed page) and past ``skip`` more (an offset page); with ``count``, how
    many items ``where`` admits in all. A SKU is matched as the catalog accepts it (any case,
    blanks around it)."""
    limit = max(0, min(limit, MAX_PAGE_SIZE))
    if where.sku is not None:
        where = replace(where, sku=normalise_sku(where.sku))
    fetched = await reads.items(skip=max(0, skip), limit=limit + 1, after_id=after_id, where=where)
    total = await reads.count_items(where) if count else None
    return page_of(fetched, limit, total=total)


async def export_items(reads: AbstractReads, *, page_size: int = 500) -> AsyncIterator[ItemView]:
    """Every item, in id order, one short read per page.

    For streaming responses: no connection is held between pages, so a slow or vanished
    client ties up nothing, and a failure mid-stream leaves nothing open. Pages are keyed by
    id, so rows added or removed meanwhile never shift a page.
    """
    after_id: int | None = None
    while True:
        page = await reads.items(limit=page_size, after_id=after_id)
        for view in page:
            yield view
        if len(page) < page_size:
            return
        after_id = page[-1].id


@use_case
async def low_stock(
    reads: AbstractReads, item_ids: Sequence[int], *, threshold: int
) -> list[ItemView]:
    """Items among ``item_ids`` running low now (``domain.item.is_running_low``): for alerts
    after a sale, read afresh since other sales or restocks may have happened meanwhile."""
    return [
        view
        for view in await reads.items_by_ids(item_ids)
        if is_running_low(view.quantity, threshold)
    ]


@use_case
@retry_transient()
async def update_item(uow: AbstractUnitOfWork, item_id: int, changes: ItemChanges) -> ItemView:
    async with uow:
        # Locked: a concurrent restock or order must not be overwritten by a stale copy.
        item = await uow.items.get_for_update(item_id)
        if not isinstance(changes.sku, _Unset):
            item.change_sku(changes.sku)
        if not isinstance(changes.title, _Unset):
            item.rename(changes.title)
        if not isinstance(changes.description, _Unset):
            item.describe(changes.description)
        if not isinstance(changes.price, _Unset):
            item.reprice(changes.price)
        if not isinstance(changes.quantity, _Unset):
            item.count_stock(changes.quantity)
        await _commit_naming_sku(uow, item.sku)
        return ItemView.from_domain(item)


@dataclass(frozen=True, slots=True)
class PriceChange:
    sku: str
    old: Decimal
    new: Decimal

    @property
    def changed(self) -> bool:
        return self.old != self.new


@use_case
@retry_transient()
async def reprice_by_sku(uow: AbstractUnitOfWork, sku: str, price: Decimal) -> PriceChange:
    """Set the price of the item with ``sku`` (``UnknownSku`` if the catalog has none), for
    price lists, which name items by SKU. A price that is already right writes nothing."""
    wanted = normalise_sku(sku)
    async with uow:
        # Locked, as in update_item: a concurrent edit must not be lost to a stale copy.
        found = await uow.items.lock_by_skus([wanted])
        if not found:
            raise UnknownSku([wanted])
        (item,) = found
        old = item.price
        item.reprice(price)
        if item.price != old:
            await uow.commit()
        return PriceChange(item.sku, old, item.price)


@use_case
@retry_transient()
async def delete_item(uow: AbstractUnitOfWork, item_id: int) -> None:
    """An item that was ever ordered stays: its orders must stay readable and cancellable.

    The row lock makes the check race-free: an order for this item either committed before
    we locked (and is seen here) or waits for us and then finds the item gone.
    """
    async with uow:
        item = await uow.items.get_for_update(item_id)
        if await uow.orders.exists_for_item(item_id):
            raise ItemHasOrders(item_id)
        await uow.items.delete(item)
        await uow.commit()


@use_case
@retry_transient()
async def restock(uow: AbstractUnitOfWork, item_id: int, quantity: int) -> ItemView:
    async with uow:
        item = await uow.items.get_for_update(item_id)
        item.restock(quantity)
        await uow.commit()
        return ItemView.from_domain(item)
