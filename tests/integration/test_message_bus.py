"""The dispatcher on the real outbox and handling table (SQLite, PostgreSQL, PgBouncer in
transaction mode) and on the fake: the same rounds, the same records (``uow_factory``)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from domain.order import LineRequest
from domain.user import Role, User
from service_layer.actor import Actor
from service_layer.messagebus import MessageBus, RetryPolicy, dispatch_once
from service_layer.services import orders as order_services
from tests.factories import ItemFactory
from tests.fakes.handlers import Recorder
from tests.integration.conftest import UowFactory

T0 = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
POLICY = RetryPolicy(max_attempts=2, first_delay=timedelta(seconds=1), lease=timedelta(minutes=1))


async def _orders(uow_factory: UowFactory, count: int) -> list[int]:
    user = User(email="bus@example.com", password_hash="$argon2id$stand-in", role=Role.CUSTOMER)
    async with uow_factory() as uow:
        await uow.users.add(user)
        await uow.items.add(ItemFactory(sku="BUS", price=Decimal("1.00"), quantity=1000))
        await uow.commit()
    assert user.id is not None
    placed = []
    for _ in range(count):
        line = [LineRequest("BUS", 1)]
        placed.append((await order_services.place_order(uow_factory(), Actor(user.id), line)).id)
    return placed


def _round(uow_factory: UowFactory, bus: MessageBus, at: datetime) -> asyncio.Future[int]:
    return asyncio.ensure_future(dispatch_once(uow_factory, bus, now=at, policy=POLICY))


async def test_each_committed_event_is_handled_once(uow_factory: UowFactory) -> None:
    placed = await _orders(uow_factory, 3)
    handler = Recorder()
    bus = MessageBus({"order.placed": {"placed": handler}})

    assert await _round(uow_factory, bus, T0) == 3
    assert await _round(uow_factory, bus, T0 + timedelta(hours=1)) == 0

    assert [m.data["id"] for m in handler.calls] == placed
    assert [m.subject for m in handler.calls] == [f"orders/{order}" for order in placed]


async def test_a_failing_call_is_parked_listed_and_retried(uow_factory: UowFactory) -> None:
    (order,) = await _orders(uow_factory, 1)
    handler = Recorder(failing=True)
    bus = MessageBus({"order.placed": {"mailer": handler}})

    assert await _round(uow_factory, bus, T0) == 1
    assert await _round(uow_factory, bus, T0) == 0  # due again only after the backoff
    assert await _round(uow_factory, bus, T0 + timedelta(seconds=1)) == 1  # the last attempt
    assert await _round(uow_factory, bus, T0 + timedelta(days=1)) == 0

    async with uow_factory() as uow:
        (parked,) = await uow.event_handling.parked()
        assert await uow.event_handling.count_parked() == 1
    assert (parked.handler, parked.attempts, parked.last_error) == (
        "mailer",
        2,
        "RuntimeError: the mail server is away",
    )
    assert parked.message.data["id"] == order
    assert parked.parked_at == T0 + timedelta(seconds=1)

    handler.failing = False
    async with uow_factory() as uow:
        assert parked.message.position is not None
        assert (
            await uow.event_handling.retry([parked.message.position], T0 + timedelta(days=1)) == 1
        )
        await uow.commit()
    assert await _round(uow_factory, bus, T0 + timedelta(days=1)) == 1
    assert len(handler.calls) == 3
    async with uow_factory() as uow:
        assert await uow.event_handling.count_parked() == 0


async def test_a_claimed_call_left_by_a_dead_process_runs_after_its_lease(
    uow_factory: UowFactory,
) -> None:
    await _orders(uow_factory, 1)
    handler = Recorder()
    bus = MessageBus({"order.placed": {"placed": handler}})
    async with uow_factory() as uow:
        (fresh,) = await uow.outbox.undispatched(limit=10)
        assert fresh.position is not None
        await uow.event_handling.expect([(fresh.position, "placed")], T0)
        await uow.outbox.mark_dispatched([fresh.position], T0)
        (claimed,) = await uow.event_handling.claim_due(T0, lease_until=T0 + POLICY.lease, limit=9)
        await uow.commit()
    assert claimed.attempts == 1  # ...and the process that claimed it dies here

    assert await _round(uow_factory, bus, T0 + timedelta(seconds=59)) == 0
    assert await _round(uow_factory, bus, T0 + POLICY.lease) == 1
    assert [m.id for m in handler.calls] == [fresh.id]


@pytest.mark.parametrize(
    "storage", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
async def test_two_dispatchers_at_once_call_each_handler_once_per_event(
    uow_factory: UowFactory,
) -> None:
    """Rows and calls are locked as they are taken (SKIP LOCKED on PostgreSQL; SQLite's
    writers take turns): two workers' rounds share the work and never both run a call."""
    placed = await _orders(uow_factory, 20)
    handler = Recorder()
    bus = MessageBus({"order.placed": {"placed": handler}})

    for _ in range(3):
        await asyncio.gather(*(_round(uow_factory, bus, T0) for _ in range(2)))

    assert sorted(m.data["id"] for m in handler.calls) == placed
