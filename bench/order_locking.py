"""Which concurrency control should place_order use? Measured, side by side, in one run.

Runs the real ``place_order`` service with 16 concurrent clients against a throwaway
PostgreSQL database, once per mechanism and contention level:

- row locks (chosen): ``SELECT ... FOR UPDATE`` on the order's items in id order, READ COMMITTED;
- serializable: the same code without row locks, SERIALIZABLE isolation, and the service
  layer's retry runner absorbing serialization failures.

Usage: .venv/bin/python -m bench.order_locking [--seconds 5] [--clients 16]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import asyncpg
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from adapters.database import PoolSettings, build_engine, build_session_factory
from adapters.sqlalchemy_repository import SqlAlchemyItemRepository
from domain.errors import OutOfStock
from domain.item import Item
from domain.order import LineRequest
from domain.user import User
from entrypoints import migrations
from service_layer.actor import Actor
from service_layer.metrics import TRANSACTION_RETRIES
from service_layer.services import orders as order_services
from service_layer.sqlalchemy_unit_of_work import SqlAlchemyUnitOfWork
from service_layer.unit_of_work import TransientConflict

ADMIN_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


class UnlockedItemRepository(SqlAlchemyItemRepository):
    """Reads the items without FOR UPDATE: SERIALIZABLE has to catch the conflicts."""

    async def _lock(
        self, *, skus: Sequence[str] | None, ids: Sequence[int] | None
    ) -> Sequence[Item]:
        from sqlalchemy import select

        from adapters.orm import items

        statement = select(Item).order_by(items.c.id)
        if skus is not None:
            statement = statement.where(items.c.sku.in_(skus))
        if ids is not None:
            statement = statement.where(items.c.id.in_(ids))
        return (await self._session.scalars(statement)).all()


class SerializableUnitOfWork(SqlAlchemyUnitOfWork):
    async def _begin(self) -> None:
        await super()._begin()
        self.items = UnlockedItemRepository(self.session)


@dataclass
class Outcome:
    mechanism: str
    contention: str
    orders_per_second: float
    out_of_stock: int
    gave_up: int
    retries: float
    p50_ms: float
    p99_ms: float


async def _create_database(name: str) -> str:
    dsn = make_url(ADMIN_URL).set(drivername="postgresql").render_as_string(hide_password=False)
    admin = await asyncpg.connect(dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    return make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)


async def _drop_database(name: str) -> None:
    dsn = make_url(ADMIN_URL).set(drivername="postgresql").render_as_string(hide_password=False)
    admin = await asyncpg.connect(dsn)
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()


async def _seed(
    sessions: async_sessionmaker[AsyncSession], items: int, clients: int
) -> list[Actor]:
    unit = SqlAlchemyUnitOfWork(sessions)
    async with unit:
        for n in range(items):
            await unit.items.add(
                Item(sku=f"B-{n}", title=f"bench {n}", price=Decimal("1.00"), quantity=10**8)
            )
        users = [User(email=f"bench{n}@example.com", password_hash="x") for n in range(clients)]
        for user in users:
            await unit.users.add(user)
        await unit.commit()
    return [Actor(user.id) for user in users]  # type: ignore[arg-type]


def _retries() -> float:
    return sum(
        sample.value
        for metric in TRANSACTION_RETRIES.collect()
        for sample in metric.samples
        if sample.name.endswith("_total")
    )


async def _run_case(
    engine: AsyncEngine,
    mechanism: str,
    contention: str,
    actors: list[Actor],
    items: int,
    seconds: float,
) -> Outcome:
    if mechanism == "row locks":
        sessions = build_session_factory(engine)
        make_uow = lambda: SqlAlchemyUnitOfWork(sessions)  # noqa: E731
    else:
        serializable = engine.execution_options(isolation_level="SERIALIZABLE")
        sessions = build_session_factory(serializable)
        make_uow = lambda: SerializableUnitOfWork(sessions)  # noqa: E731
    hot = contention == "one hot item"
    latencies: list[float] = []
    out_of_stock = gave_up = 0
    retries_before = _retries()
    deadline = time.perf_counter() + seconds

    async def client(actor: Actor) -> None:
        nonlocal out_of_stock, gave_up
        while time.perf_counter() < deadline:
            sku = "B-0" if hot else f"B-{random.randrange(items)}"
            started = time.perf_counter()
            try:
                await order_services.place_order(make_uow(), actor, [LineRequest(sku, 1)])
            except OutOfStock:
                out_of_stock += 1
            except TransientConflict:
                gave_up += 1  # retries exhausted: this error would have reached the client
            latencies.append(time.perf_counter() - started)

    began = time.perf_counter()
    await asyncio.gather(*(client(actor) for actor in actors))
    elapsed = time.perf_counter() - began
    ordered = sorted(latencies)
    return Outcome(
        mechanism,
        contention,
        len(latencies) / elapsed,
        out_of_stock,
        gave_up,
        _retries() - retries_before,
        statistics.median(ordered) * 1000,
        ordered[int(len(ordered) * 0.99) - 1] * 1000,
    )


async def main(seconds: float, clients: int, items: int) -> None:
    name = f"stockroom_bench_locking_{uuid.uuid4().hex[:8]}"
    url = await _create_database(name)
    engine = build_engine(url, pool=PoolSettings(size=clients, max_overflow=0))
    try:
        await migrations.upgrade_engine(engine)
        actors = await _seed(build_session_factory(engine), items, clients)
        results = []
        for contention in ("100 items", "one hot item"):
            for mechanism in ("row locks", "serializable"):
                await _run_case(engine, mechanism, contention, actors, items, 1.0)  # warm-up
                results.append(
                    await _run_case(engine, mechanism, contention, actors, items, seconds)
                )
    finally:
        await engine.dispose()
        await _drop_database(name)

    print(f"place_order, {clients} concurrent clients, PostgreSQL, {seconds:.0f} s per case")
    print("| contention | mechanism | attempts/s | vs row locks | retries | failed | p50 | p99 |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for result in results:
        baseline = next(
            r for r in results if r.contention == result.contention and r.mechanism == "row locks"
        )
        print(
            f"| {result.contention} | {result.mechanism} | {result.orders_per_second:,.0f} | "
            f"{result.orders_per_second / baseline.orders_per_second:.2f}x | "
            f"{result.retries:,.0f} | {result.gave_up:,} | "
            f"{result.p50_ms:.1f} ms | {result.p99_ms:.1f} ms |"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--items", type=int, default=100)
    options = parser.parse_args()
    asyncio.run(main(options.seconds, options.clients, options.items))
