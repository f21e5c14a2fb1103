"""The session decisions of docs/session-lifecycle.md, each measured against its alternative
in one run, in one process, on a throwaway PostgreSQL database.

Usage: .venv/bin/python -m bench.decisions [--units 2000] [--seconds 5] [--clients 16]
(PostgreSQL at BENCH_POSTGRES_URL, default postgresql://postgres@127.0.0.1:5432/test)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal

import asyncpg
from sqlalchemy import event, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from adapters.database import Database, PoolSettings
from adapters.orm import items
from adapters.repositories import SqlAlchemyItemRepository
from adapters.unit_of_work import SqlAlchemyUnitOfWork
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
Row = tuple[str, str, str, float, float, str]  # decision, chosen, alternative, figures, unit


async def per_unit(units: int, body: Callable[[], Awaitable[object]]) -> float:
    """Microseconds per call of ``body``, run ``units`` times one after another."""
    await body()  # warm: compiled statements, a pooled connection
    started = time.perf_counter()
    for _ in range(units):
        await body()
    return (time.perf_counter() - started) / units * 1e6


async def ending_a_unit(db: Database, units: int) -> Row:
    async def close_only() -> None:
        session = db.sessions()
        await session.execute(ONE_ITEM)
        await session.close()  # ends the transaction (ROLLBACK) and returns the connection

    async def rollback_then_close() -> None:
        session = db.sessions()
        await session.execute(ONE_ITEM)
        await session.rollback()
        await session.close()

    chosen, other = await per_unit(units, close_only), await per_unit(units, rollback_then_close)
    return ("end a unit", "close()", "rollback() + close()", chosen, other, "us/unit")


async def after_commit(db: Database, units: int) -> Row:
    expiring = async_sessionmaker(db.engine, expire_on_commit=True, autoflush=False)

    async def write(maker: async_sessionmaker, refresh: bool) -> None:  # type: ignore[type-arg]
        session = maker()
        item = Item(sku=f"D-{uuid.uuid4().hex[:12]}", title="t", price=Decimal(1), quantity=1)
        session.add(item)
        await session.commit()
        if refresh:  # expired: reading item.title would need IO, impossible once closed
            await session.refresh(item)
        _ = item.title
        await session.close()

    chosen = await per_unit(units, lambda: write(db.sessions, refresh=False))
    other = await per_unit(units, lambda: write(expiring, refresh=True))
    return ("after commit", "expire_on_commit=False", "True + refresh()", chosen, other, "us/unit")


async def checkout_check(db: Database, units: int) -> Row:
    pinging = create_async_engine(db.url, pool_size=10, max_overflow=0, pool_pre_ping=True)

    async def read(engine: object) -> None:
        async with engine.connect() as connection:  # type: ignore[attr-defined]
            await connection.execute(ONE_ITEM)

    try:
        chosen = await per_unit(units, lambda: read(db.engine))
        other = await per_unit(units, lambda: read(pinging))
    finally:
        await pinging.dispose()
    return ("checkout check", "local is_closed()", "pool_pre_ping", chosen, other, "us/read")


async def read_load(db: Database, seconds: float) -> tuple[float, int]:
    """Reads/s of 32 concurrent readers, and how many connections the pool opened meanwhile."""
    opened = reads = 0

    def count_connect(*_: object) -> None:
        nonlocal opened
        opened += 1

    event.listen(db.engine.sync_engine, "connect", count_connect)
    deadline = time.perf_counter() + seconds

    async def reader() -> None:
        nonlocal reads
        while time.perf_counter() < deadline:
            await db.fetch_all(ONE_ITEM, {})
            reads += 1

    await asyncio.gather(*(reader() for _ in range(32)))
    return reads / seconds, opened


async def pool_shape(url: str, seconds: float) -> list[Row]:
    """With overflow, connections are closed and reopened as bursts come and go."""
    figures = []
    for pool in (PoolSettings(), PoolSettings(size=5, max_overflow=10)):
        db = Database(url, pool=pool)
        try:
            figures.append(await read_load(db, seconds))
        finally:
            await db.dispose()
    (fixed, fixed_opened), (bursty, bursty_opened) = figures
    shape = ("pool, 32 readers", "10 + 0 (fixed)", "5 + 10 (default)")
    return [(*shape, fixed, bursty, "reads/s"), (*shape, fixed_opened, bursty_opened, "opened")]


class UnlockedItems(SqlAlchemyItemRepository):
    """The items without FOR UPDATE: under SERIALIZABLE the database must catch conflicts."""

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
) -> tuple[float, int]:
    """Orders/s from one client per actor, and how many still failed after every retry."""
    placed = failed = 0
    deadline = time.perf_counter() + seconds

    async def client(actor: Actor) -> None:
        nonlocal placed, failed
        while time.perf_counter() < deadline:
            sku = "B-0" if hot else f"B-{random.randrange(100)}"
            try:
                await order_services.place_order(make(db), actor, [LineRequest(sku, 1)])
                placed += 1
            except (OutOfStock, TransientConflict):
                failed += 1  # retries exhausted: a client would have seen a 503

    await asyncio.gather(*(client(actor) for actor in actors))
    return placed / seconds, failed


async def locking(db: Database, actors: list[Actor], hot: bool, seconds: float) -> list[Row]:
    locks, locks_failed = await order_load(db, SqlAlchemyUnitOfWork, actors, hot, seconds)
    serial, serial_failed = await order_load(db, SerializableUnitOfWork, actors, hot, seconds)
    contention = "one hot item" if hot else "100 items"
    shape = (f"place_order, {len(actors)} clients, {contention}", "row locks", "SERIALIZABLE")
    return [(*shape, locks, serial, "orders/s"), (*shape, locks_failed, serial_failed, "failed")]


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
    name = f"stockroom_bench_decisions_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(ADMIN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = make_url(ADMIN).set(drivername="postgresql+asyncpg", database=name)
    db = Database(url, pool=PoolSettings(size=max(10, clients)))
    rows: list[Row] = []
    try:
        await migrations.upgrade_engine(db.engine)
        actors = await seed(db, clients)
        rows += [await ending_a_unit(db, units), await after_commit(db, units)]
        rows += [
            await checkout_check(db, units),
            *await pool_shape(url.render_as_string(False), seconds),
        ]
        rows += await locking(db, actors, hot=False, seconds=seconds)
        rows += await locking(db, actors, hot=True, seconds=seconds)
    finally:
        await db.dispose()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    print(
        "| decision | chosen | alternative | chosen | alternative | unit | alternative / chosen |"
    )
    print("|---|---|---|---:|---:|---|---:|")
    for decision, chosen, other, mine, theirs, unit in rows:
        ratio = f"{theirs / mine:.2f}x" if mine else "-"
        print(
            f"| {decision} | {chosen} | {other} | {mine:,.0f} | {theirs:,.0f} | {unit} | {ratio} |"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--units", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=16)
    options = parser.parse_args()
    asyncio.run(main(options.units, options.seconds, options.clients))
