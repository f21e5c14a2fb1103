"""The outbox relay against the real NATS server (JetStream) and a fresh database of each
backend: what lands in the stream, dedupe by event id, a broker that is down, the lease."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from functools import partial

import pytest
from dependency_injector import providers
from sqlalchemy import select

from adapters.database import Database
from adapters.nats_publisher import JetStreamPublisher
from adapters.outbox_store import SqlRelayOutbox, leases
from adapters.postgres import Pooler
from domain.order import LineRequest
from domain.user import Role, User
from entrypoints.api.app import create_app
from service_layer.actor import Actor
from service_layer.cloudevents import problems
from service_layer.relay_ports import BrokerUnavailable, OutboxRecord
from service_layer.services import items as item_services
from service_layer.services import orders as order_services
from tests.api_support import build_test_container
from tests.integration.cli_support import Target
from tests.integration.databases import open_database
from tests.integration.relay_support import (
    Broker,
    Row,
    add_rows,
    ids_by_position,
    published_count,
    relay_of,
    rows_for_orders,
)
from tests.integration.servers import PgBouncer, free_port
from tests.integration.units import unit_of_work
from tests.polling import eventually


async def drain(database: Database, publisher: JetStreamPublisher) -> None:
    relay = relay_of(database, publisher)
    try:
        while await relay.relay_batch():
            pass
    finally:
        await publisher.close()


async def test_outbox_rows_become_cloudevents_on_their_subjects_in_order(
    fresh_database: Database, broker: Broker
) -> None:
    rows = [
        Row("11111111-1111-4111-8111-111111111111", "order.placed", "orders/42", {"id": 42}),
        Row("22222222-2222-4222-8222-222222222222", "item.price_changed", "items/7", {"id": 7}),
        Row("33333333-3333-4333-8333-333333333333", "order.cancelled", "orders/42", {"id": 42}),
    ]
    await add_rows(fresh_database, rows)

    await drain(fresh_database, broker.publisher())  # the stream is created on the way

    messages = await broker.messages()
    assert [m.subject for m in messages] == [
        f"{broker.prefix}.order.placed",
        f"{broker.prefix}.item.price_changed",
        f"{broker.prefix}.order.cancelled",
    ]
    for message, row in zip(messages, rows, strict=True):
        assert problems(message.event) == []
        assert message.msg_id == message.event["id"] == row.id
        # "stockroom." whatever the subject prefix: consumers match on the type.
        assert message.event["type"] == f"stockroom.{row.type}"
        assert (message.event["subject"], message.event["data"]) == (row.subject, row.data)
        assert message.event["datacontenttype"] == "application/json"
    assert await published_count(fresh_database) == 3


async def test_a_republished_row_is_reported_duplicate_and_the_stream_keeps_one(
    fresh_database: Database, broker: Broker
) -> None:
    await add_rows(fresh_database, rows_for_orders(1))
    publisher = broker.publisher()
    first = (await SqlRelayOutbox(fresh_database).unsent(1))[0]
    try:
        assert await publisher.publish(first) is False
        # What a relay killed after the acknowledgement and before its mark does next time.
        again = OutboxRecord(**{f: getattr(first, f) for f in first.__slots__})
        assert await publisher.publish(again) is True
    finally:
        await publisher.close()

    # The relay sends it once more (it was never marked), and the stream still drops it.
    await drain(fresh_database, broker.publisher())
    assert [m.msg_id for m in await broker.messages()] == await ids_by_position(fresh_database)


async def test_with_the_broker_unreachable_rows_wait_then_drain_in_order(
    fresh_database: Database, broker: Broker
) -> None:
    await add_rows(fresh_database, rows_for_orders(30))
    closed_port = f"nats://127.0.0.1:{free_port()}"

    with pytest.raises(BrokerUnavailable):
        await drain(fresh_database, broker.publisher(closed_port))
    assert await published_count(fresh_database) == 0

    await drain(fresh_database, broker.publisher())  # the broker is back
    assert [m.msg_id for m in await broker.messages()] == await ids_by_position(fresh_database)
    assert await published_count(fresh_database) == 60


async def test_two_relays_at_once_only_the_lease_holder_publishes(
    fresh_database: Database, broker: Broker
) -> None:
    await add_rows(fresh_database, rows_for_orders(600))  # several batches
    published_by: dict[str, int] = {"first": 0, "second": 0}

    class Counting(JetStreamPublisher):
        def __init__(self, name: str) -> None:
            super().__init__(broker.url, stream=broker.stream, subject_prefix=broker.prefix)
            self.name = name

        async def publish(self, record: OutboxRecord) -> bool:
            published_by[self.name] += 1
            return await super().publish(record)

    async def relay_all(name: str) -> None:
        publisher = Counting(name)
        relay = relay_of(fresh_database, publisher, name=name)
        try:
            for _ in range(10):  # more passes than batches: each keeps trying
                await relay.relay_batch()
                await asyncio.sleep(0)
        finally:
            await publisher.close()

    await asyncio.gather(relay_all("first"), relay_all("second"))

    assert sorted(published_by.values()) == [0, 1200]  # one of them did it all, once each
    messages = await broker.messages()
    assert [m.msg_id for m in messages] == await ids_by_position(fresh_database)


async def test_orders_placed_and_cancelled_reach_the_stream_once_each_in_order(
    fresh_database: Database, broker: Broker
) -> None:
    uow = partial(unit_of_work, fresh_database)
    user = User(email="buyer@example.com", password_hash="$argon2id$stand-in", role=Role.CUSTOMER)
    async with uow() as unit:
        await unit.users.add(user)
        await unit.commit()
    assert user.id is not None
    actor = Actor(user.id)
    await item_services.add_item(
        uow(), item_services.NewItem("Cup", "CUP", price=Decimal("3.00"), quantity=100)
    )
    orders = [
        (await order_services.place_order(uow(), actor, [LineRequest("CUP", 1)])).id
        for _ in range(10)
    ]
    for order_id in orders[::3]:
        await order_services.cancel_order(uow(), actor, order_id)

    await drain(fresh_database, broker.publisher())

    events = [m.event for m in await broker.messages()]
    assert all(problems(event) == [] for event in events)
    placed = [e["data"]["id"] for e in events if e["type"] == "stockroom.order.placed"]
    cancelled = [e["data"]["id"] for e in events if e["type"] == "stockroom.order.cancelled"]
    assert placed == orders
    assert cancelled == orders[::3]
    sequence = [(e["type"], e["subject"]) for e in events]
    for order_id in cancelled:  # each after its order's placed event
        subject = f"orders/{order_id}"
        assert sequence.index(("stockroom.order.placed", subject)) < sequence.index(
            ("stockroom.order.cancelled", subject)
        )
    assert len({e["id"] for e in events}) == len(events)


async def test_serve_runs_a_relay_in_process_for_as_long_as_the_app_runs(
    fresh_database: Database, broker: Broker
) -> None:
    container = build_test_container(
        database_url=Target.of(fresh_database).url,
        **broker.settings(),
        events_relay_in_process=True,
    )
    container.database.override(providers.Object(fresh_database))
    app = create_app(container)
    await add_rows(fresh_database, rows_for_orders(5))

    async with app.router.lifespan_context(app):

        async def drained() -> bool:
            return await published_count(fresh_database) == 10

        await eventually(drained)
        assert await lease_holder(fresh_database) is not None

    assert [m.msg_id for m in await broker.messages()] == await ids_by_position(fresh_database)
    assert await lease_holder(fresh_database) is None  # given up as the app stopped


async def lease_holder(database: Database) -> str | None:
    async with database.engine.connect() as connection:
        holder = await connection.scalar(select(leases.c.holder))
    return None if holder is None else str(holder)


@pytest.mark.postgres
async def test_through_pgbouncer_in_transaction_mode_one_relay_publishes_all_in_order(
    fresh_postgres: Database, pgbouncer_transaction: PgBouncer, broker: Broker
) -> None:
    """No session state: the lease is a row, new rows are found by polling (no LISTEN)."""
    await add_rows(fresh_postgres, rows_for_orders(300))
    url = pgbouncer_transaction.url(fresh_postgres.url.database or "")
    publishers = [broker.publisher(), broker.publisher()]
    async with open_database(url, pooler=Pooler.TRANSACTION) as pooled:
        relays = [relay_of(pooled, p, name=n) for p, n in zip(publishers, "AB", strict=True)]
        try:
            # Both at once, pass after pass, until neither has anything left to publish.
            while sum(await asyncio.gather(*(relay.relay_batch() for relay in relays))):
                pass
        finally:
            for publisher in publishers:
                await publisher.close()
        assert await lease_holder(pooled) in ("A", "B")

    assert [m.msg_id for m in await broker.messages()] == await ids_by_position(fresh_postgres)
