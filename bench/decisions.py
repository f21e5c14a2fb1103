"""``python -m bench.decisions``: each session decision of docs/session-lifecycle.md against
its alternative, in one run and one process, on a throwaway database at BENCH_POSTGRES_URL."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal
from typing import Any

import asyncpg
from sqlalchemy import event, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from adapters.database import Database
from adapters.orm import items
from adapters.pool import PoolSettings
from adapters.repositories import SqlAlchemyItemRepository
from adapters.unit_of_work import SqlAlchemyUnitOfWork
from bench import pgbouncer
from domain.errors import OutOfStock
from domain.item import Item
from domain.order import LineRequest
from domain.user import User
from entrypoints import migrations
from service_layer.actor import Actor
from service_layer.errors import TransientConflict
from service_layer.services import orders as order_services

ADMIN = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
ONE_ITEM = select(items.c.id, items.c.title).where(items.c.id == 1)
Row = tuple[str, str, str, float, float, str]  # decision, chosen, other, figures, unit


async def per_call(units: int, body: Callable[[], Awaitable[object]]) -> float:
    """Microseconds per call of ``body``, run ``units`` times one after another, warmed."""
    await body()
    started = time.perf_counter()
    for _ in range(units):
        await body()
    return (time.perf_counter() - started) / units * 1e6


async def timed(db: Database, units: int) -> list[Row]:
    expiring = async_sessionmaker(db.engine, expire_on_commit=True, autoflush=False)
    pinging = create_async_engine(db.url, pool_size=10, max_overflow=0, pool_pre_ping=True)

    async def read_in_a_session(end_with_rollback: bool) -> None:
        session = db.sessions()
        await session.execute(ONE_ITEM)
        if end_with_rollback:
            await session.rollback()
        await session.close()  # ends the transaction (ROLLBACK) and returns the connection

    async def write(maker: async_sessionmaker[Any], refresh: bool) -> None:
        session = maker()
        item = Item(sku=f"D-{uuid.uuid4().hex[:12]}", title="t", price=Decimal(1), quantity=1)
        session.add(item)
        await session.commit()
        if refresh:  # expired: reading item.title needs IO, impossible once the session closed
            await session.refresh(item)
        _ = item.title
        await session.close()

    async def checkout_and_read(engine: Any) -> None:
        async with engine.connect() as connection:
            await connection.execute(ONE_ITEM)

    cases = [
        ("a pure read", "read port (AUTOCOMMIT)", "a unit of work",
         lambda: db.fetch_all(ONE_ITEM, {}), lambda: read_in_a_session(False)),
        ("end a unit", "close()", "rollback() + close()",
         lambda: read_in_a_session(False), lambda: read_in_a_session(True)),
        ("after commit", "expire_on_commit=False", "True + refresh()",
         lambda: write(db.sessions, False), lambda: write(expiring, True)),
        ("checkout check", "local is_closed()", "pool_pre_ping",
         lambda: checkout_and_read(db.engine), lambda: checkout_and_read(pinging)),
    ]  # fmt: skip
    try:
        return [
            (name, chosen, other, await per_call(units, mine), await per_call(units, theirs), "us")
            for name, chosen, other, mine, theirs in cases
        ]
    finally:
        await pinging.dispose()


async def read_load(url: str, pool: PoolSettings, seconds: float) -> tuple[float, float]:
    """Reads/s of 32 concurrent readers, and the connections the pool opened meanwhile."""
    db, opened, reads = Database(url, pool=pool), [0], [0]
    event.listen(db.engine.sync_engine, "connect", lambda *_: opened.append(1))
    deadline = time.perf_counter() + seconds

    async def reader() -> None:
        while time.perf_counter() < deadline:
            await db.fetch_all(ONE_ITEM, {})
            reads.append(1)

    await asyncio.gather(*(reader() for _ in range(32)))
    await db.dispose()
    return len(reads) / seconds, len(opened) - 1


class UnlockedItems(SqlAlchemyItemRepository):  # SERIALIZABLE must catch the conflicts instead
    async def lock_by_skus(self, skus: Sequence[str]) -> Sequence[Item]:
        statement = select(Item).where(items.c.sku.in_(skus)).order_by(items.c.id)
        return (await self._session.scalars(statement)).all()


class SerializableUnitOfWork(SqlAlchemyUnitOfWork):
    async def _begin(self) -> None:
        await super()._begin()
        await self.session.connection(execution_options={"isolation_level": "SERIALIZABLE"})
        self.items = UnlockedItems(self.session)


async def order_load(
    db: Database, make: type[SqlAlchemyUnitOfWork], actors: list[Actor], hot: bool, seconds: float
) -> tuple[float, float]:
    """Orders/s, one client per actor, and how many still failed after every retry."""
    placed, failed = [0], [0]
    deadline = time.perf_counter() + seconds

    async def client(actor: Actor) -> None:
        while time.perf_counter() < deadline:
            sku = "B-0" if hot else f"B-{random.randrange(100)}"
            try:
                await order_services.place_order(make(db), actor, [LineRequest(sku, 1)])
                placed.append(1)
            except (OutOfStock, TransientConflict):
                failed.append(1)  # retries exhausted: a client would have seen a 503

    await asyncio.gather(*(client(actor) for actor in actors))
    return (len(placed) - 1) / seconds, len(failed) - 1


async def loads(url: str, db: Database, actors: list[Actor], seconds: float) -> list[Row]:
    rows: list[Row] = []
    fixed = await read_load(url, PoolSettings(), seconds)
    bursty = await read_load(url, PoolSettings(size=5, max_overflow=10), seconds)
    pool = ("pool, 32 readers", "10 + 0 (fixed)", "5 + 10 (default)")
    rows += [(*pool, fixed[0], bursty[0], "reads/s"), (*pool, fixed[1], bursty[1], "opened")]
    for hot in (False, True):
        locks = await order_load(db, SqlAlchemyUnitOfWork, actors, hot, seconds)
        serial = await order_load(db, SerializableUnitOfWork, actors, hot, seconds)
        case = f"place_order, {len(actors)} clients, {'one hot item' if hot else '100 items'}"
        shape = (case, "row locks", "SERIALIZABLE")
        rows += [(*shape, locks[0], serial[0], "orders/s"), (*shape, locks[1], serial[1], "failed")]
    return rows


async def pooled_load(engine: AsyncEngine, reads_in_transactions: bool, seconds: float) -> float:
    """Operations/s of 32 tasks through PgBouncer (transaction mode): 4 item reads for each
    stock write; an error or a wrong row stops the run, since neither may happen."""
    reader = (
        engine if reads_in_transactions else engine.execution_options(isolation_level="AUTOCOMMIT")
    )
    done, deadline = [0], time.perf_counter() + seconds

    async def task() -> None:
        while time.perf_counter() < deadline:
            item = random.randint(1, 100)
            async with reader.begin() if reads_in_transactions else reader.connect() as c:
                row = (await c.execute(select(items.c.id).where(items.c.id == item))).one()
            assert row.id == item, "a read answered for another statement"
            if item % 5 == 0:
                async with engine.begin() as c:
                    await c.execute(items.update().where(items.c.id == item).values(title="w"))
            done.append(1)

    await asyncio.gather(*(task() for _ in range(32)))
    await engine.dispose()
    return (len(done) - 1) / seconds


async def pooler_driver(name: str, seconds: float) -> list[Row]:
    """Behind a transaction pooler no prepared statement may outlive its message: psycopg with
    prepares off (one exchange per statement), or asyncpg with its caches off, unique names,
    and a transaction around every read (it prepares and executes in two exchanges)."""
    with pgbouncer.running() as port:
        url = f"postgresql+{{}}://postgres@127.0.0.1:{port}/{name}"
        psycopg = create_async_engine(
            url.format("psycopg"),
            pool_size=10,
            max_overflow=0,
            connect_args={"prepare_threshold": None},
        )
        unique = {
            "statement_cache_size": 0,
            "prepared_statement_name_func": lambda: f"__s_{uuid.uuid4()}__",
        }
        asyncpg_engine = create_async_engine(
            url.format("asyncpg") + "?prepared_statement_cache_size=0",
            pool_size=10,
            max_overflow=0,
            connect_args=unique,
        )
        chosen = await pooled_load(psycopg, reads_in_transactions=False, seconds=seconds)
        other = await pooled_load(asyncpg_engine, reads_in_transactions=True, seconds=seconds)
    return [
        (
            "driver behind PgBouncer",
            "psycopg, no prepares",
            "asyncpg, no caches",
            chosen,
            other,
            "ops/s",
        )
    ]


async def seed(db: Database, clients: int) -> list[Actor]:
    async with SqlAlchemyUnitOfWork(db) as uow:
        for n in range(100):
            await uow.items.add(Item(sku=f"B-{n}", title=f"b{n}", price=Decimal(1), quantity=10**8))
        users = [User(email=f"b{n}@example.com", password_hash="x") for n in range(clients)]
        for user in users:
            await uow.users.add(user)
        await uow.commit()
    return [Actor(user.id) for user in users if user.id is not None]


async def main(units: int, seconds: float, clients: int) -> None:
    logging.getLogger("service_layer.retry").setLevel(logging.ERROR)  # one line per retry
    name = f"stockroom_bench_decisions_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(ADMIN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = make_url(ADMIN).set(drivername="postgresql+asyncpg", database=name)
    db = Database(url, pool=PoolSettings(size=max(10, clients)))
    try:
        await migrations.upgrade_engine(db.engine)
        actors = await seed(db, clients)
        plain_url = url.render_as_string(False)
        rows = await timed(db, units) + await loads(plain_url, db, actors, seconds)
        rows += await pooler_driver(name, seconds)
    finally:
        await db.dispose()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    print("| decision | chosen | alternative | chosen | alternative | unit | ratio |")
    print("|---|---|---|---:|---:|---|---:|")  # ratio: alternative / chosen
    for decision, chosen, other, mine, theirs, unit in rows:
        ratio = f"{theirs / mine:.2f}x" if mine else "-"
        print(
            f"| {decision} | {chosen} | {other} | {mine:,.0f} | {theirs:,.0f} | {unit} | {ratio} |"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--units", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=16)
    options = parser.parse_args()
    asyncio.run(main(options.units, options.seconds, options.clients))
