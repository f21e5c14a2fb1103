"""Many buyers at once, on PostgreSQL, through the real service layer and real connections:
direct, and through PgBouncer in transaction and in session mode.

These run only on PostgreSQL: SQLite serialises every writer with one database lock, so it
cannot oversell, and testing that it does not would prove nothing about our locking.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from adapters.database import Database
from adapters.passwords import Argon2PasswordHasher
from adapters.pool import PoolSettings
from adapters.postgres import Pooler
from adapters.unit_of_work import SqlAlchemyUnitOfWork
from domain.errors import OutOfStock
from domain.item import Item
from domain.order import LineRequest
from service_layer.actor import Actor
from service_layer.errors import TransientConflict
from service_layer.retry import retry_transient
from service_layer.services import items as item_services
from service_layer.services import orders as order_services
from service_layer.services import users as user_services
from tests.integration.databases import open_database
from tests.integration.servers import PgBouncer
from tests.integration.units import unit_of_work

pytestmark = pytest.mark.postgres


@pytest.fixture(params=[Pooler.NONE, Pooler.TRANSACTION, Pooler.SESSION])
async def wide_database(
    request: pytest.FixtureRequest, postgres_database: Database, postgres_url: str
) -> AsyncIterator[Database]:
    """Enough connections that the buyers really run in parallel inside the database: direct,
    or through the suite's PgBouncer in each pool mode.

    ``open_database`` registers it with the leak guard and, on leaving, checks that no
    connection was left checked out (the autouse guard runs after this teardown)."""
    pooler: Pooler = request.param
    url = postgres_url
    if pooler is not Pooler.NONE:
        bouncer: PgBouncer = request.getfixturevalue(f"pgbouncer_{pooler.value}")
        url = bouncer.url(make_url(postgres_url).database or "")
    # 20: the buyers queue for connections, and still overlap inside the database. More would
    # crowd the shared server, where the suite's PgBouncers keep up to 40 idle connections.
    pool = PoolSettings(size=20, max_overflow=0)
    async with open_database(url, pool, pooler) as database:
        yield database


def uow(database: Database) -> SqlAlchemyUnitOfWork:
    return unit_of_work(database)


async def _customers(database: Database, hasher: Argon2PasswordHasher, count: int) -> list[Actor]:
    actors = []
    for n in range(count):
        view = await user_services.register(
            uow(database), hasher, f"buyer{n}@example.com", "pw-12345678"
        )
        actors.append(Actor(view.id))
    return actors


async def _items(database: Database, **stock: int) -> None:
    unit = uow(database)
    async with unit:
        for sku, quantity in stock.items():
            await unit.items.add(Item(sku=sku, title=sku, price=Decimal("1.00"), quantity=quantity))
        await unit.commit()


async def _scalar_map(database: Database, sql: str) -> dict[str, int]:
    async with database.engine.connect() as connection:
        return {row[0]: int(row[1]) for row in await connection.execute(text(sql))}


async def _stock(database: Database) -> dict[str, int]:
    return await _scalar_map(database, "SELECT sku, quantity FROM items")


async def _sold(database: Database) -> dict[str, int]:
    """Quantities in placed and shipped orders, per SKU: what has left (or will leave) the shelf."""
    return await _scalar_map(
        database,
        "SELECT l.sku, sum(l.quantity) FROM order_lines l JOIN orders o ON o.id = l.order_id "
        "WHERE o.status IN ('placed', 'shipped') GROUP BY l.sku",
    )


async def test_a_hundred_buyers_for_ten_units_never_oversell(
    wide_database: Database, fast_hasher: Argon2PasswordHasher
) -> None:
    await _items(wide_database, HOT=10)
    buyers = await _customers(wide_database, fast_hasher, 100)

    async def buy(actor: Actor) -> str:
        try:
            await order_services.place_order(uow(wide_database), actor, [LineRequest("HOT", 1)])
        except OutOfStock:
            return "out of stock"
        return "bought"

    outcomes = await asyncio.gather(*(buy(actor) for actor in buyers))

    assert outcomes.count("bought") == 10
    assert outcomes.count("out of stock") == 90
    assert await _stock(wide_database) == {"HOT": 0}
    assert await _sold(wide_database) == {"HOT": 10}


async def test_overlapping_multi_line_orders_in_opposite_orders_conserve_stock(
    wide_database: Database, fast_hasher: Argon2PasswordHasher
) -> None:
    initial = {"A": 40, "B": 40, "C": 40}
    await _items(wide_database, **initial)
    buyers = await _customers(wide_database, fast_hasher, 6)
    shapes = [
        [LineRequest("A", 1), LineRequest("B", 2), LineRequest("C", 1)],
        [LineRequest("C", 1), LineRequest("B", 2), LineRequest("A", 1)],
        [LineRequest("C", 3), LineRequest("A", 1)],
        [LineRequest("B", 1), LineRequest("A", 2)],
    ]
    unexpected: list[BaseException] = []

    async def shop(actor: Actor, lines: list[LineRequest], then: str) -> None:
        try:
            order = await order_services.place_order(uow(wide_database), actor, lines)
            if then == "cancel":
                await order_services.cancel_order(uow(wide_database), actor, order.id)
            elif then == "ship":
                await order_services.ship_order(uow(wide_database), order.id)
        except OutOfStock:
            pass
        except BaseException as error:  # anything else reaching a caller is a failure
            unexpected.append(error)

    plan = zip(
        itertools.cycle(buyers),
        itertools.cycle(shapes),
        itertools.cycle(["keep", "cancel", "ship"]),
    )
    await asyncio.gather(
        *(shop(actor, lines, then) for actor, lines, then in itertools.islice(plan, 120))
    )

    assert unexpected == []
    stock, sold = await _stock(wide_database), await _sold(wide_database)
    assert all(quantity >= 0 for quantity in stock.values())
    assert {sku: stock[sku] + sold.get(sku, 0) for sku in initial} == initial


async def test_concurrent_restock_and_purchase_lose_no_update(
    wide_database: Database, fast_hasher: Argon2PasswordHasher
) -> None:
    await _items(wide_database, FLOW=0)
    buyers = await _customers(wide_database, fast_hasher, 4)
    async with uow(wide_database) as unit:
        item_id = (await unit.items.lock_by_skus(["FLOW"]))[0].id
    assert item_id is not None

    async def restock() -> str:
        await item_services.restock(uow(wide_database), item_id, 1)
        return "restocked"

    async def buy(actor: Actor) -> str:
        try:
            await order_services.place_order(uow(wide_database), actor, [LineRequest("FLOW", 1)])
        except OutOfStock:
            return "out of stock"
        return "bought"

    jobs = [restock() for _ in range(60)] + [buy(buyers[n % 4]) for n in range(60)]
    outcomes = await asyncio.gather(*jobs)

    bought = outcomes.count("bought")
    assert bought > 0
    assert await _stock(wide_database) == {"FLOW": 60 - bought}
    assert await _sold(wide_database) == {"FLOW": bought}


async def test_twenty_concurrent_retries_with_one_key_create_one_order(
    wide_database: Database, fast_hasher: Argon2PasswordHasher
) -> None:
    await _items(wide_database, ONCE=100)
    [actor] = await _customers(wide_database, fast_hasher, 1)

    views = await asyncio.gather(
        *(
            order_services.place_order(
                uow(wide_database), actor, [LineRequest("ONCE", 3)], idempotency_key="retry-me"
            )
            for _ in range(20)
        )
    )

    assert len({view.id for view in views}) == 1
    assert await _stock(wide_database) == {"ONCE": 97}
    async with wide_database.engine.connect() as connection:
        orders = (await connection.execute(text("SELECT count(*) FROM orders"))).scalar_one()
    assert orders == 1


async def test_a_deadlock_becomes_a_transient_conflict_and_is_retried(
    wide_database: Database,
) -> None:
    """Two units that lock two rows in opposite orders (which our services never do) are
    made to deadlock; PostgreSQL aborts one, the unit of work reports it as transient, and the
    retry runner runs that whole unit again so both finish."""
    await _items(wide_database, LEFT=0, RIGHT=0)
    both_hold_one = asyncio.Barrier(2)
    attempts: list[str] = []

    @retry_transient()
    async def lock_in_order(first: str, second: str) -> None:
        attempts.append(first)
        async with uow(wide_database) as unit:
            lock = "UPDATE items SET quantity = quantity + 1 WHERE sku = :sku"
            await unit.session.execute(text(lock), {"sku": first})
            if len(attempts) <= 2:
                await both_hold_one.wait()
            await unit.session.execute(text(lock), {"sku": second})
            await unit.commit()

    await asyncio.gather(lock_in_order("LEFT", "RIGHT"), lock_in_order("RIGHT", "LEFT"))

    assert len(attempts) == 3  # one of the two was aborted once and ran again
    assert await _stock(wide_database) == {"LEFT": 2, "RIGHT": 2}


async def test_without_the_retry_runner_the_deadlock_surfaces_as_transient(
    wide_database: Database,
) -> None:
    await _items(wide_database, UP=0, DOWN=0)
    both_hold_one = asyncio.Barrier(2)

    async def lock_in_order(first: str, second: str) -> str:
        try:
            async with uow(wide_database) as unit:
                lock = "UPDATE items SET quantity = quantity + 1 WHERE sku = :sku"
                await unit.session.execute(text(lock), {"sku": first})
                await both_hold_one.wait()
                await unit.session.execute(text(lock), {"sku": second})
                await unit.commit()
        except TransientConflict:
            return "transient"
        return "committed"

    outcomes = await asyncio.gather(lock_in_order("UP", "DOWN"), lock_in_order("DOWN", "UP"))
    assert sorted(outcomes) == ["committed", "transient"]
    assert await _stock(wide_database) == {"UP": 1, "DOWN": 1}


async def test_twins_racing_for_the_last_unit_both_get_the_one_order(
    wide_database: Database, fast_hasher: Argon2PasswordHasher
) -> None:
    """Regression: the twin that waited for the row lock used to find no stock left and
    answer 409, though its own request had succeeded; now it sees the key once it holds the
    lock and answers with the order."""
    await _items(wide_database, LAST=1)
    [actor] = await _customers(wide_database, fast_hasher, 1)

    views = await asyncio.gather(
        *(
            order_services.place_order(
                uow(wide_database), actor, [LineRequest("LAST", 1)], idempotency_key="twin"
            )
            for _ in range(10)
        )
    )

    assert len({view.id for view in views}) == 1
    assert await _stock(wide_database) == {"LAST": 0}
