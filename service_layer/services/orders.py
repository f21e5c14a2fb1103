"""Order use cases: one unit of work each, retried whole on a transient conflict.

Concurrency control is pessimistic: the item rows an order touches are locked
(``SELECT ... FOR UPDATE``) in id order before stock is checked, so two purchases of the last
unit serialise on the row and the second sees what the first left. Why not SERIALIZABLE:
docs/session-lifecycle.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from domain.errors import IdempotencyKeyReused, IdempotencyKeyTaken, UnknownOrder, UnknownUser
from domain.idempotency import DEFAULT_KEY_TTL, IdempotencyRecord, fingerprint, validate_key
from domain.item import DEFAULT_LOW_STOCK_THRESHOLD
from domain.order import LineRequest, Order, OrderStatus, normalise_lines
from domain.user import normalise_email
from service_layer.actor import Actor
from service_layer.metrics import IDEMPOTENT_REPLAYS, ORDERS
from service_layer.pages import Page, page_of
from service_layer.retry import retry_transient
from service_layer.unit_of_work import AbstractUnitOfWork
from service_layer.use_cases import use_case
from service_layer.views import OrderView

MAX_PAGE_SIZE = 100


@use_case
@retry_transient()
async def place_order(
    uow: AbstractUnitOfWork,
    actor: Actor,
    lines: Sequence[LineRequest],
    *,
    idempotency_key: str | None = None,
    key_ttl: timedelta = DEFAULT_KEY_TTL,
    low_stock_threshold: int = DEFAULT_LOW_STOCK_THRESHOLD,
    now: datetime | None = None,
) -> OrderView:
    """Take stock for every line and record the order, or do nothing at all.

    The view's ``stock_left`` reports what each item had left right after this sale.

    With an ``idempotency_key``, a repeat of the same request within ``key_ttl`` returns the
    order the first one created, without taking stock again; the key is stored in the order's
    own transaction, so it exists exactly when the order does. A key older than ``key_ttl`` is
    forgotten, as the purge would have forgotten it: the request is a new one. ``now`` is the
    clock's reading (tests hand one in). Each item the sale leaves at or below
    ``low_stock_threshold`` (the shop's setting) records ``stock.low``, committed with the
    order: the low-stock alert is that event's handler (``service_layer/handlers.py``).
    """
    requested = normalise_lines(lines)
    key = validate_key(idempotency_key) if idempotency_key is not None else None
    digest = fingerprint(requested) if key is not None else ""  # only a key needs one
    now = now or datetime.now(UTC)
    try:
        async with uow:
            stock = await uow.items.lock_by_skus([line.sku for line in requested])
            # Looked up only once the items are locked: a twin of this request that got the
            # locks first has committed by now, so we answer with its order instead of
            # trying to buy again (and, for the last unit, wrongly reporting out of stock).
            if key is not None and (earlier := await uow.idempotency.get(actor.user_id, key)):
                if not earlier.has_expired(now, key_ttl):
                    return await _replay(uow, earlier, digest)
                # Removed, not overwritten: if a twin renews the key at the same moment, one
                # of the two inserts fails on the key and that request replays the other.
                await uow.idempotency.remove(earlier)
            order = Order.place(
                actor.user_id, requested, stock, low_stock_threshold=low_stock_threshold
            )
            await uow.orders.add(order)
            if key is not None:
                assert order.id is not None
                await uow.idempotency.add(
                    IdempotencyRecord(actor.user_id, key, digest, order_id=order.id, created_at=now)
                )
            await uow.commit()
            ORDERS.labels("placed").inc()
            return OrderView.from_domain(order, stock)
    except IdempotencyKeyTaken:
        # A concurrent request with this key committed first (its twin raced ours); ours
        # rolled back, so nothing was taken twice. Answer as the winner did.
        assert key is not None
        async with uow.reading():
            earlier = await uow.idempotency.get(actor.user_id, key)
            assert earlier is not None, "the key was reported taken, so it is stored"
            return await _replay(uow, earlier, digest)


async def _replay(uow: AbstractUnitOfWork, earlier: IdempotencyRecord, digest: str) -> OrderView:
    if earlier.request_fingerprint != digest:
        raise IdempotencyKeyReused
    IDEMPOTENT_REPLAYS.inc()
    return replace(OrderView.from_domain(await uow.orders.get(earlier.order_id)), replayed=True)


@use_case
async def get_order(uow: AbstractUnitOfWork, actor: Actor, order_id: int) -> OrderView:
    """Someone else's order is reported as unknown: its existence is not the caller's business."""
    async with uow.reading():
        order = await uow.orders.get(order_id)
        if not actor.may_see(order.customer_id):
            raise UnknownOrder(order_id)
        return OrderView.from_domain(order)


@use_case
async def list_orders(
    uow: AbstractUnitOfWork,
    actor: Actor,
    *,
    skip: int = 0,
    limit: int = MAX_PAGE_SIZE,
    status: OrderStatus | None = None,
    before_id: int | None = None,
    count: bool = False,
) -> Page[OrderView]:
    """Newest first: a customer's own orders, or everyone's for an admin; only those in
    ``status`` when it is given; older than the order ``before_id`` (a keyed page) and past
    ``skip`` more (an offset page). With ``count``, how many there are in all."""
    customer = None if actor.is_admin else actor.user_id
    limit = max(0, min(limit, MAX_PAGE_SIZE))
    async with uow.reading():
        found = await uow.orders.list(
            customer_id=customer,
            status=status,
            skip=max(0, skip),
            limit=limit + 1,
            before_id=before_id,
        )
        total = await uow.orders.count(customer_id=customer, status=status) if count else None
        return page_of([OrderView.from_domain(order) for order in found], limit, total=total)


@use_case
async def find_orders(
    uow: AbstractUnitOfWork,
    *,
    customer_email: str | None = None,
    status: OrderStatus | None = None,
    limit: int = MAX_PAGE_SIZE,
) -> list[OrderView]:
    """Staff only (the entrypoint decides who is staff): anyone's orders, newest first,
    optionally one customer's (``UnknownUser`` if no account has that email) or one status's."""
    async with uow.reading():
        customer_id = None
        if customer_email is not None:
            customer = await uow.users.get_by_email(normalise_email(customer_email))
            if customer is None:
                raise UnknownUser
            customer_id = customer.id
        found = await uow.orders.list(
            customer_id=customer_id, status=status, limit=max(0, min(limit, MAX_PAGE_SIZE))
        )
        return [OrderView.from_domain(order) for order in found]


@use_case
@retry_transient()
async def cancel_order(uow: AbstractUnitOfWork, actor: Actor, order_id: int) -> OrderView:
    """The owner or an admin cancels a placed order; its quantities go back on the shelf."""
    async with uow:
        # Lock order: the order row, then its items in id order (as place_order locks items),
        # so a cancel and a purchase can wait for each other but never deadlock.
        order = await uow.orders.get_for_update(order_id)
        if not actor.may_see(order.customer_id):
            raise UnknownOrder(order_id)
        order.cancel(await uow.items.lock_by_ids(order.item_ids))
        await uow.commit()
        ORDERS.labels("cancelled").inc()
        return OrderView.from_domain(order)


@use_case
@retry_transient()
async def ship_order(uow: AbstractUnitOfWork, order_id: int) -> OrderView:
    """Staff only (the entrypoint checks the role); shipping is final."""
    async with uow:
        order = await uow.orders.get_for_update(order_id)
        order.ship()
        await uow.commit()
        ORDERS.labels("shipped").inc()
        return OrderView.from_domain(order)
