"""``find_orders``, the staff's view of orders (``stockroom orders list``), on the fake UoW."""

from __future__ import annotations

import pytest

from domain.errors import InvalidValue, UnknownUser
from domain.order import OrderStatus
from service_layer.actor import Actor
from service_layer.services import orders as services
from service_layer.views import OrderView
from tests.fakes import FakeUnitOfWork, InMemoryStore
from tests.unit.order_support import add_user, lines, shelf


async def place(store: InMemoryStore, actor: Actor) -> OrderView:
    return await services.place_order(FakeUnitOfWork(store), actor, lines(("F-1", 1)))


@pytest.fixture
async def shop(store: InMemoryStore) -> tuple[Actor, Actor, list[OrderView]]:
    """Alice's orders 0 and 2 and Bob's order 1; order 1 is cancelled, order 2 shipped."""
    await shelf(store, ("F-1", 50, "2.50"))
    alice, bob = await add_user(store), await add_user(store)
    placed = [await place(store, who) for who in (alice, bob, alice)]
    await services.cancel_order(FakeUnitOfWork(store), bob, placed[1].id)
    await services.ship_order(FakeUnitOfWork(store), placed[2].id)
    return alice, bob, placed


def email_of(store: InMemoryStore, actor: Actor) -> str:
    return store.users[actor.user_id].email


async def test_staff_see_everyones_orders_newest_first_without_writing(
    store: InMemoryStore, shop: tuple[Actor, Actor, list[OrderView]]
) -> None:
    _, _, placed = shop
    uow = FakeUnitOfWork(store)

    found = await services.find_orders(uow)

    assert [(view.id, view.status) for view in found] == [
        (placed[2].id, OrderStatus.SHIPPED),
        (placed[1].id, OrderStatus.CANCELLED),
        (placed[0].id, OrderStatus.PLACED),
    ]
    assert uow.commits == 0


async def test_orders_of_one_customer_by_email_in_any_case(
    store: InMemoryStore, shop: tuple[Actor, Actor, list[OrderView]]
) -> None:
    alice, _, placed = shop

    found = await services.find_orders(
        FakeUnitOfWork(store), customer_email=f"  {email_of(store, alice).upper()} "
    )

    assert [view.id for view in found] == [placed[2].id, placed[0].id]


@pytest.mark.parametrize(
    ("status", "expected"),
    [(OrderStatus.PLACED, [0]), (OrderStatus.CANCELLED, [1]), (OrderStatus.SHIPPED, [2])],
)
async def test_orders_in_one_status(
    store: InMemoryStore,
    shop: tuple[Actor, Actor, list[OrderView]],
    status: OrderStatus,
    expected: list[int],
) -> None:
    _, _, placed = shop

    found = await services.find_orders(FakeUnitOfWork(store), status=status)

    assert [view.id for view in found] == [placed[n].id for n in expected]


async def test_customer_and_status_together(
    store: InMemoryStore, shop: tuple[Actor, Actor, list[OrderView]]
) -> None:
    alice, bob, placed = shop
    uow = FakeUnitOfWork

    assert (
        await services.find_orders(
            uow(store), customer_email=email_of(store, bob), status=OrderStatus.PLACED
        )
        == []
    )
    shipped = await services.find_orders(
        uow(store), customer_email=email_of(store, alice), status=OrderStatus.SHIPPED
    )
    assert [view.id for view in shipped] == [placed[2].id]


async def test_the_limit_keeps_the_newest(
    store: InMemoryStore, shop: tuple[Actor, Actor, list[OrderView]]
) -> None:
    _, _, placed = shop

    newest = await services.find_orders(FakeUnitOfWork(store), limit=2)

    assert [view.id for view in newest] == [placed[2].id, placed[1].id]


async def test_an_email_without_an_account_is_an_unknown_user(
    store: InMemoryStore, shop: tuple[Actor, Actor, list[OrderView]]
) -> None:
    with pytest.raises(UnknownUser):
        await services.find_orders(FakeUnitOfWork(store), customer_email="nobody@example.com")


async def test_a_malformed_email_is_an_invalid_value(store: InMemoryStore) -> None:
    with pytest.raises(InvalidValue):
        await services.find_orders(FakeUnitOfWork(store), customer_email="not an email")
