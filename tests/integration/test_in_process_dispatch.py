"""``stockroom serve``'s in-process dispatcher: each app worker runs it in its lifespan, and it
handles what was committed before it started, by a process that is gone, as well as what is
committed while it runs; every call is recorded done exactly once."""

from __future__ import annotations

from decimal import Decimal

from dependency_injector import providers
from sqlalchemy import text

from adapters.database import Database
from domain.order import LineRequest
from domain.user import Role, User
from entrypoints.api.app import create_app
from entrypoints.container import Container
from service_layer.actor import Actor
from service_layer.messagebus import MessageBus
from service_layer.outbox import OutboxMessage
from service_layer.services import orders as order_services
from tests.factories import ItemFactory
from tests.integration.units import unit_of_work
from tests.polling import eventually


async def _buyer(database: Database) -> Actor:
    user = User(email="serve@example.com", password_hash="$argon2id$stand-in", role=Role.CUSTOMER)
    async with unit_of_work(database) as uow:
        await uow.users.add(user)
        await uow.items.add(ItemFactory(sku="SERVED", price=Decimal("1.00"), quantity=500))
        await uow.commit()
    assert user.id is not None
    return Actor(user.id)


async def _place(database: Database, actor: Actor, count: int) -> list[int]:
    return [
        (
            await order_services.place_order(
                unit_of_work(database), actor, [LineRequest("SERVED", 1)]
            )
        ).id
        for _ in range(count)
    ]


async def _done(database: Database) -> int:
    async with database.engine.connect() as connection:
        query = text("SELECT count(*) FROM event_handling WHERE done_at IS NOT NULL")
        return int((await connection.execute(query)).scalar_one())


async def test_the_app_handles_events_committed_before_and_while_it_runs(
    database: Database, container: Container
) -> None:
    seen: list[OutboxMessage] = []

    async def record(message: OutboxMessage) -> None:
        seen.append(message)

    container.settings.override(
        providers.Object(container.settings().model_copy(update={"events_dispatch_seconds": 0.05}))
    )
    container.message_bus.override(providers.Object(MessageBus({"order.placed": {"rec": record}})))
    actor = await _buyer(database)
    # Committed by a "process" that is gone: no dispatcher ran, nothing is kept in memory.
    before = await _place(database, actor, 5)
    app = create_app(container)

    async with app.router.lifespan_context(app):
        during = await _place(database, actor, 5)

        async def all_recorded_done() -> bool:
            return await _done(database) == 10

        await eventually(all_recorded_done)

    assert sorted(m.data["id"] for m in seen) == before + during
    async with database.engine.connect() as connection:
        calls = (
            await connection.execute(
                text("SELECT handler, attempts, done_at IS NOT NULL FROM event_handling")
            )
        ).all()
    assert sorted(calls) == [("rec", 1, True)] * 10  # each call recorded, once, done
