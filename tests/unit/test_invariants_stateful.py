"""Scenario 8, domain invariants: a Hypothesis state machine drives the real item and order
services on the in-memory unit of work, and checks after every step that stock is conserved.

The machine keeps its own model of the shop (expected stock per item, expected status of every
order, which idempotency keys were honoured) and predicts the outcome of each call before
making it: a call the model says must succeed has to succeed, one it says must fail has to
fail with the predicted domain error *and leave the store exactly as it was*.

After every step, for every item still in the catalog:

    initial stock + restocks + stock-count corrections
        == quantity on the shelf + quantities on its placed and shipped orders

(cancelled orders gave theirs back), and no quantity is ever negative. Stock-count
corrections are ``update_item(quantity=...)``: a counted figure replaces the shelf quantity,
and the difference is booked as a correction, as a stock-take would book it.

No database and no network: a few seconds for the whole run.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import Counter
from collections.abc import Awaitable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
)

from domain.errors import (
    IdempotencyKeyReused,
    IllegalTransition,
    ItemHasOrders,
    OutOfStock,
    UnknownItem,
    UnknownOrder,
    UnknownSku,
)
from domain.order import LineRequest, OrderStatus
from domain.user import Role, User
from service_layer.actor import Actor
from service_layer.services import items as item_services
from service_layer.services import orders as order_services
from service_layer.services.items import ItemChanges, NewItem
from tests.fakes import FakeUnitOfWork, InMemoryStore

T = TypeVar("T")

CUSTOMERS = 3
IDEMPOTENCY_KEYS = ("k-1", "k-2", "k-3")
UNKNOWN_SKU = "NOT-IN-CATALOG"
quantities = st.integers(min_value=0, max_value=20)
line_quantities = st.integers(min_value=1, max_value=6)
prices = st.decimals(min_value=0, max_value=100, places=2)


@dataclass
class ItemModel:
    sku: str
    price: Decimal
    initial: int
    on_shelf: int
    restocked: int = 0
    corrected: int = 0  # net effect of stock-count corrections (update_item quantity)
    ever_ordered: bool = False
    deleted: bool = False


@dataclass
class OrderModel:
    customer_id: int
    # item id -> (quantity, unit price at the time of sale)
    lines: dict[int, tuple[int, Decimal]]
    status: OrderStatus = OrderStatus.PLACED


@dataclass
class KeyModel:
    fingerprint: tuple[tuple[str, int], ...]
    order_id: int


@dataclass
class Ledger:
    items: dict[int, ItemModel] = field(default_factory=dict)
    orders: dict[int, OrderModel] = field(default_factory=dict)
    keys: dict[tuple[int, str], KeyModel] = field(default_factory=dict)


def _merged(wanted: list[tuple[str, int]]) -> tuple[tuple[str, int], ...]:
    """What ``normalise_lines`` makes of a request: repeats merged, sorted by SKU."""
    merged: Counter[str] = Counter()
    for sku, quantity in wanted:
        merged[sku.upper()] += quantity
    return tuple(sorted(merged.items()))


class ShopMachine(RuleBasedStateMachine):
    item_ids = Bundle("item_ids")
    order_ids = Bundle("order_ids")

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.store = InMemoryStore()
        self.model = Ledger()
        self.customers: list[Actor] = []
        self.admin = Actor(0, is_admin=True)
        self.run_prefix = secrets.token_hex(2).upper()
        self.sku_counter = 0

    def teardown(self) -> None:
        self.loop.close()

    # --- plumbing -------------------------------------------------------------------------

    def run(self, use_case: Awaitable[T]) -> T:
        return self.loop.run_until_complete(use_case)

    def uow(self) -> FakeUnitOfWork:
        """A fresh unit over the shared store, as the container hands one to every request."""
        return FakeUnitOfWork(self.store)

    def committed(self) -> tuple[Any, ...]:
        """The whole committed state by value, to prove a refused call changed nothing."""
        return (
            {i: (x.sku, x.title, x.price, x.quantity) for i, x in self.store.items.items()},
            {
                i: (o.status, tuple((ln.item_id, ln.quantity, ln.unit_price) for ln in o.lines))
                for i, o in self.store.orders.items()
            },
            {k: (r.request_fingerprint, r.order_id) for k, r in self.store.idempotency.items()},
        )

    def refused(self, use_case: Awaitable[object], error: type[Exception]) -> None:
        before = self.committed()
        try:
            self.run(use_case)
        except error:
            pass
        else:
            raise AssertionError(f"expected {error.__name__}, the call succeeded")
        assert self.committed() == before, f"a refused call ({error.__name__}) changed the store"

    def live(self, item_id: int) -> ItemModel | None:
        item = self.model.items.get(item_id)
        return None if item is None or item.deleted else item

    # --- set-up ---------------------------------------------------------------------------

    @initialize(target=item_ids, stock=st.lists(quantities, min_size=3, max_size=5))
    def open_shop(self, stock: list[int]) -> Any:
        """Customers, and a shelf of a few items so multi-line orders are the norm."""

        async def add_customers() -> list[Actor]:
            actors = []
            uow = self.uow()
            async with uow:
                for n in range(CUSTOMERS):
                    user = User(f"c{n}-{self.run_prefix.lower()}@example.com", "x", Role.CUSTOMER)
                    await uow.users.add(user)
                    assert user.id is not None
                    actors.append(Actor(user.id))
                await uow.commit()
            return actors

        self.customers = self.run(add_customers())
        return multiple(*(self.add_item(quantity, Decimal("1.50")) for quantity in stock))

    # --- catalog --------------------------------------------------------------------------

    @rule(target=item_ids, quantity=quantities, price=prices)
    def add_item(self, quantity: int, price: Decimal) -> int:
        self.sku_counter += 1
        sku = f"s{self.run_prefix}-{self.sku_counter}".lower()  # lower case: normalised on entry
        view = self.run(
            item_services.add_item(
                self.uow(), NewItem(title="thing", sku=sku, price=price, quantity=quantity)
            )
        )
        assert (view.sku, view.quantity, view.price) == (sku.upper(), quantity, price)
        self.model.items[view.id] = ItemModel(view.sku, price, initial=quantity, on_shelf=quantity)
        return view.id

    @rule(item_id=item_ids, quantity=st.integers(min_value=1, max_value=15))
    def restock(self, item_id: int, quantity: int) -> None:
        item = self.live(item_id)
        if item is None:
            self.refused(item_services.restock(self.uow(), item_id, quantity), UnknownItem)
            return
        view = self.run(item_services.restock(self.uow(), item_id, quantity))
        item.on_shelf += quantity
        item.restocked += quantity
        assert view.quantity == item.on_shelf

    @rule(item_id=item_ids, counted=quantities)
    def count_stock(self, item_id: int, counted: int) -> None:
        """A stock-take: the counted figure replaces the shelf quantity (a correction)."""
        item = self.live(item_id)
        changes = ItemChanges(quantity=counted)
        if item is None:
            self.refused(item_services.update_item(self.uow(), item_id, changes), UnknownItem)
            return
        view = self.run(item_services.update_item(self.uow(), item_id, changes))
        item.corrected += counted - item.on_shelf
        item.on_shelf = counted
        assert view.quantity == counted

    @rule(item_id=item_ids, price=prices)
    def reprice(self, item_id: int, price: Decimal) -> None:
        """Repricing touches neither stock nor the prices orders were placed at."""
        item = self.live(item_id)
        changes = ItemChanges(price=price, title="renamed")
        if item is None:
            self.refused(item_services.update_item(self.uow(), item_id, changes), UnknownItem)
            return
        view = self.run(item_services.update_item(self.uow(), item_id, changes))
        item.price = price
        assert (view.price, view.quantity) == (price, item.on_shelf)

    @rule(item_id=item_ids)
    def delete_item(self, item_id: int) -> None:
        item = self.live(item_id)
        if item is None:
            self.refused(item_services.delete_item(self.uow(), item_id), UnknownItem)
        elif item.ever_ordered:
            self.refused(item_services.delete_item(self.uow(), item_id), ItemHasOrders)
        else:
            self.run(item_services.delete_item(self.uow(), item_id))
            item.deleted = True

    # --- orders ---------------------------------------------------------------------------

    @precondition(lambda self: any(not item.deleted for item in self.model.items.values()))
    @rule(
        target=order_ids,
        picks=st.lists(
            st.tuples(st.integers(0, 7), line_quantities, st.booleans()), min_size=1, max_size=5
        ),
        customer=st.integers(min_value=0, max_value=CUSTOMERS - 1),
        key=st.none() | st.sampled_from(IDEMPOTENCY_KEYS),
        with_unknown_sku=st.sampled_from([False, False, False, True]),
    )
    def place_order(
        self,
        picks: list[tuple[int, int, bool]],
        customer: int,
        key: str | None,
        with_unknown_sku: bool,
    ) -> Any:
        """Multi-line orders, repeated SKUs, mixed case, sometimes an unknown SKU or a retry.

        ``picks`` are (index into the live catalog, quantity, send the SKU lower-cased).
        """
        skus = sorted({item.sku for item in self.model.items.values() if not item.deleted})
        wanted = [
            (skus[n % len(skus)].lower() if lower else skus[n % len(skus)], quantity)
            for n, quantity, lower in picks
        ]
        if with_unknown_sku:
            wanted.append((UNKNOWN_SKU, 1))
        actor = self.customers[customer]
        requested = _merged(wanted)
        call = order_services.place_order(
            self.uow(),
            actor,
            [LineRequest(sku, quantity) for sku, quantity in wanted],
            idempotency_key=key,
        )
        by_sku = {m.sku: (i, m) for i, m in self.model.items.items() if not m.deleted}
        earlier = self.model.keys.get((actor.user_id, key)) if key is not None else None

        # Each outcome is predicted before the call; no new order adds nothing to the bundle.
        if earlier is not None:
            if earlier.fingerprint != requested:
                self.refused(call, IdempotencyKeyReused)
                return multiple()
            before = self.committed()
            view = self.run(call)
            assert view.id == earlier.order_id, "a retry must answer with the original order"
            assert self.committed() == before, "a replay must not take stock again"
            return multiple()
        if any(sku not in by_sku for sku, _ in requested):
            self.refused(call, UnknownSku)
            return multiple()
        if any(by_sku[sku][1].on_shelf < quantity for sku, quantity in requested):
            self.refused(call, OutOfStock)
            return multiple()

        view = self.run(call)
        lines: dict[int, tuple[int, Decimal]] = {}
        for sku, quantity in requested:
            item_id, item = by_sku[sku]
            item.on_shelf -= quantity
            item.ever_ordered = True
            lines[item_id] = (quantity, item.price)
        got = {line.item_id: (line.quantity, line.unit_price) for line in view.lines}
        assert got == lines, "the order's lines are not what was asked for, at today's prices"
        assert view.customer_id == actor.user_id
        assert view.status is OrderStatus.PLACED
        self.model.orders[view.id] = OrderModel(actor.user_id, lines)
        if key is not None:
            self.model.keys[(actor.user_id, key)] = KeyModel(requested, view.id)
        return view.id

    @rule(order_id=order_ids, who=st.integers(min_value=-1, max_value=CUSTOMERS - 1))
    def cancel_order(self, order_id: int, who: int) -> None:
        """``who`` -1 is the admin; anyone else may cancel only their own order."""
        order = self.model.orders[order_id]
        actor = self.admin if who < 0 else self.customers[who]
        call = order_services.cancel_order(self.uow(), actor, order_id)
        if not actor.may_see(order.customer_id):
            self.refused(call, UnknownOrder)
        elif order.status is not OrderStatus.PLACED:
            self.refused(call, IllegalTransition)
        else:
            view = self.run(call)
            assert view.status is OrderStatus.CANCELLED
            order.status = OrderStatus.CANCELLED
            for item_id, (quantity, _) in order.lines.items():
                self.model.items[item_id].on_shelf += quantity

    @rule(order_id=order_ids)
    def ship_order(self, order_id: int) -> None:
        order = self.model.orders[order_id]
        call = order_services.ship_order(self.uow(), order_id)
        if order.status is not OrderStatus.PLACED:
            self.refused(call, IllegalTransition)
        else:
            assert self.run(call).status is OrderStatus.SHIPPED
            order.status = OrderStatus.SHIPPED

    @rule(order_id=st.integers(min_value=10_000, max_value=10_010))
    def act_on_a_missing_order(self, order_id: int) -> None:
        self.refused(order_services.ship_order(self.uow(), order_id), UnknownOrder)
        self.refused(order_services.cancel_order(self.uow(), self.admin, order_id), UnknownOrder)

    # --- invariants -----------------------------------------------------------------------

    @invariant()
    def stock_is_never_negative(self) -> None:
        negative = {i: x.quantity for i, x in self.store.items.items() if x.quantity < 0}
        assert not negative, f"negative stock: {negative}"

    @invariant()
    def stock_is_conserved(self) -> None:
        """initial + restocks + corrections == on the shelf + on placed and shipped orders."""
        taken: Counter[int] = Counter()
        for order in self.store.orders.values():
            if order.status in (OrderStatus.PLACED, OrderStatus.SHIPPED):
                for line in order.lines:
                    taken[line.item_id] += line.quantity
        for item_id, item in self.store.items.items():
            booked = self.model.items[item_id]
            supplied = booked.initial + booked.restocked + booked.corrected
            assert supplied == item.quantity + taken[item_id], (
                f"item {item_id} ({item.sku}): initial {booked.initial} + restocked "
                f"{booked.restocked} + corrected {booked.corrected} != on shelf {item.quantity} "
                f"+ on live orders {taken[item_id]}"
            )

    @invariant()
    def store_matches_the_model(self) -> None:
        live = {
            i: (m.sku, m.price, m.on_shelf) for i, m in self.model.items.items() if not m.deleted
        }
        stored = {i: (x.sku, x.price, x.quantity) for i, x in self.store.items.items()}
        assert stored == live
        for order_id, order in self.model.orders.items():
            stored_order = self.store.orders[order_id]
            assert stored_order.status is order.status
            assert stored_order.customer_id == order.customer_id
            assert {
                line.item_id: (line.quantity, line.unit_price) for line in stored_order.lines
            } == order.lines, "an order's lines or prices changed after it was placed"
            assert stored_order.lines, "an order without lines"
        assert set(self.store.orders) == set(self.model.orders), "an order appeared or vanished"
        keys = {k: m.order_id for k, m in self.model.keys.items()}
        assert {k: r.order_id for k, r in self.store.idempotency.items()} == keys


ShopMachine.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=30,
    deadline=None,
    database=None,  # nothing written to the work tree; a failure prints its reproduction
    # One failure, shrunk: shrinking every distinct failure of a long run takes minutes.
    report_multiple_bugs=False,
    suppress_health_check=[HealthCheck.too_slow],
)
TestShopInvariants = ShopMachine.TestCase
