"""The message bus on the fake unit of work: handlers run after commit, from the outbox, each
call recorded once; a failing call is retried with backoff, then parked, and blocks nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.order import Order
from entrypoints.container import build_container
from entrypoints.settings import Settings
from service_layer.messagebus import MessageBus, RetryPolicy, dispatch_once
from service_layer.services import items as item_services
from service_layer.services import orders as order_services
from tests.fakes import FakeUnitOfWork, InMemoryStore
from tests.fakes.handlers import Recorder
from tests.unit.order_support import add_user, counter, lines, shelf

T0 = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
POLICY = RetryPolicy(max_attempts=3, first_delay=timedelta(seconds=1), lease=timedelta(minutes=1))


async def _dispatch(store: InMemoryStore, bus: MessageBus, at: datetime) -> int:
    return await dispatch_once(lambda: FakeUnitOfWork(store), bus, now=at, policy=POLICY)


async def _place(store: InMemoryStore) -> int:
    actor = await add_user(store)
    await shelf(store, ("CUP", 10, "3.00"))
    order = await order_services.place_order(FakeUnitOfWork(store), actor, lines(("CUP", 1)))
    return order.id


async def test_a_committed_event_is_handled_once_from_the_outbox() -> None:
    store = InMemoryStore()
    order_id = await _place(store)  # committed; nothing of it is in any memory but the store
    placed, shipped = Recorder(), Recorder()
    bus = MessageBus({"order.placed": {"placed": placed}, "order.shipped": {"shipped": shipped}})

    assert await _dispatch(store, bus, T0) == 1
    assert await _dispatch(store, bus, T0 + timedelta(hours=1)) == 0

    assert [(m.type, m.data["id"]) for m in placed.calls] == [("order.placed", order_id)]
    assert shipped.calls == []
    (done,) = store.events.handling.values()
    assert (done.handler, done.attempts, done.done_at) == ("placed", 1, T0)


async def test_what_rolled_back_is_never_handled() -> None:
    store = InMemoryStore()
    actor = await add_user(store)
    stock = await shelf(store, ("CUP", 10, "3.00"))
    handler = Recorder()
    bus = MessageBus({"order.placed": {"placed": handler}})

    async def place_then_fail() -> None:
        async with FakeUnitOfWork(store) as uow:
            order = Order.place(
                actor.user_id, lines(("CUP", 1)), await uow.items.lock_by_ids([stock[0].id or 0])
            )
            await uow.orders.add(order)
            raise RuntimeError("before the commit")

    with pytest.raises(RuntimeError):
        await place_then_fail()

    assert await _dispatch(store, bus, T0) == 0
    assert handler.calls == []


async def test_a_failing_call_is_retried_with_backoff_then_parked_and_retried_on_demand() -> None:
    store = InMemoryStore()
    await _place(store)
    handler = Recorder(failing=True)
    bus = MessageBus({"order.placed": {"mailer": handler}})
    parked_before = counter("stockroom_event_handler_calls_parked_total", {"handler": "mailer"})

    assert await _dispatch(store, bus, T0) == 1  # attempt 1 fails: due again in 1 s
    assert await _dispatch(store, bus, T0 + timedelta(seconds=0.5)) == 0
    assert await _dispatch(store, bus, T0 + timedelta(seconds=1)) == 1  # attempt 2: then 2 s
    assert await _dispatch(store, bus, T0 + timedelta(seconds=2)) == 0
    assert await _dispatch(store, bus, T0 + timedelta(seconds=3)) == 1  # attempt 3: parked
    assert await _dispatch(store, bus, T0 + timedelta(days=1)) == 0
    assert len(handler.calls) == 3

    async with FakeUnitOfWork(store) as uow:
        (parked,) = await uow.event_handling.parked()
        assert await uow.event_handling.count_parked() == 1
    assert (parked.handler, parked.attempts, parked.message.type) == ("mailer", 3, "order.placed")
    assert parked.last_error == "RuntimeError: the mail server is away"
    assert (
        counter("stockroom_event_handler_calls_parked_total", {"handler": "mailer"})
        == parked_before + 1
    )
    assert counter("stockroom_event_handler_calls_parked_now") == 1

    handler.failing = False
    async with FakeUnitOfWork(store) as uow:
        assert await uow.event_handling.retry(None, T0 + timedelta(days=1)) == 1
        await uow.commit()
    assert await _dispatch(store, bus, T0 + timedelta(days=1)) == 1
    assert len(handler.calls) == 4
    assert counter("stockroom_event_handler_calls_parked_now") == 0
    async with FakeUnitOfWork(store) as uow:
        assert await uow.event_handling.parked() == []


async def test_a_failing_handler_blocks_neither_other_handlers_nor_later_events() -> None:
    store = InMemoryStore()
    first = await _place(store)
    broken, working = Recorder(failing=True), Recorder()
    bus = MessageBus({"order.placed": {"broken": broken, "working": working}})

    await _dispatch(store, bus, T0)
    actor = await add_user(store)
    second = await order_services.place_order(FakeUnitOfWork(store), actor, lines(("CUP", 1)))
    await _dispatch(store, bus, T0 + timedelta(seconds=0.1))

    assert [m.data["id"] for m in working.calls] == [first, second.id]
    assert [m.data["id"] for m in broken.calls] == [first, second.id]


async def test_a_call_whose_process_died_is_claimed_again_once_its_lease_ends() -> None:
    store = InMemoryStore()
    await _place(store)
    handler = Recorder()
    bus = MessageBus({"order.placed": {"placed": handler}})
    # A process noted and claimed the call, then died before recording how it went.
    await _dispatch(store, MessageBus({}), T0)  # notes nothing: no handler yet
    async with FakeUnitOfWork(store) as uow:
        (position,) = store.events.rows.keys()
        await uow.event_handling.expect([(position, "placed")], T0)
        await uow.event_handling.claim_due(T0, lease_until=T0 + POLICY.lease, limit=10)
        await uow.commit()

    assert await _dispatch(store, bus, T0 + timedelta(seconds=30)) == 0  # still leased
    assert await _dispatch(store, bus, T0 + POLICY.lease) == 1
    assert len(handler.calls) == 1


async def test_reads_only_while_idle() -> None:
    """An idle round asks one question in a reading unit and commits nothing."""
    store = InMemoryStore()
    units: list[FakeUnitOfWork] = []

    def new_uow() -> FakeUnitOfWork:
        units.append(FakeUnitOfWork(store))
        return units[-1]

    assert await dispatch_once(new_uow, MessageBus({}), now=T0) == 0
    assert [unit.commits for unit in units] == [0]


async def test_a_restock_is_told_to_its_handler() -> None:
    store = InMemoryStore()
    (item,) = await shelf(store, ("CUP", 1, "3.00"))
    handler = Recorder()
    await item_services.restock(FakeUnitOfWork(store), item.id or 0, 4)

    await _dispatch(store, MessageBus({"stock.restocked": {"restocked": handler}}), T0)

    (message,) = handler.calls
    assert message.subject == f"items/{item.id}"
    assert message.data == {"id": item.id, "sku": "CUP", "added": 4, "quantity": 5}


@pytest.mark.parametrize(
    "url", ["sqlite+aiosqlite:///unused.db", "postgresql+asyncpg://unused@127.0.0.1/unused"]
)
def test_the_container_tells_each_unit_which_event_types_a_handler_takes(url: str) -> None:
    """The composition root hands the bus's event types to every unit it makes, so that rows
    of the others are written dispatched (``tests/integration/test_outbox.py``)."""
    container = build_container(Settings(database_url=url, secret_key="k" * 32))

    assert container.message_bus().event_types == {"stock.low"}
    assert container.uow().handled_event_types == {"stock.low"}


def test_the_bus_knows_which_event_types_some_handler_takes() -> None:
    bus = MessageBus({"order.placed": {"placed": Recorder()}, "order.shipped": {}})

    assert bus.event_types == {"order.placed"}


async def test_the_dispatcher_never_sees_a_row_no_handler_takes() -> None:
    store = InMemoryStore()
    placed = Recorder()
    bus = MessageBus({"order.shipped": {"placed": placed}})
    actor = await add_user(store)
    await shelf(store, ("CUP", 10, "3.00"))
    uow = FakeUnitOfWork(store, handled_event_types=bus.event_types)
    await order_services.place_order(uow, actor, lines(("CUP", 1)))

    async with FakeUnitOfWork(store) as reading:
        assert await reading.outbox.undispatched(limit=10) == []
    assert await _dispatch(store, bus, T0) == 0
    assert len(store.events.rows) == 1  # the row is there, for the relay
