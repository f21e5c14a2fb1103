"""The rows every comparator serves: migrated by ``stockroom db upgrade``, seeded through
Stockroom's own service functions (the path its CLI uses), so the harness never hand-writes
the schema it benchmarks."""

from __future__ import annotations

import asyncio
import os
import subprocess
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import create_async_engine

from domain.item import MAX_QUANTITY, Item
from entrypoints.container import build_container, dispose
from entrypoints.settings import Settings
from service_layer.services import users as user_services

ITEM_COUNT = 1000
CUSTOMER_EMAIL = "bench-customer@example.com"
CUSTOMER_PASSWORD = "bench-password-1"
TOKEN_LIFETIME_MINUTES = 24 * 60


@dataclass(frozen=True)
class Seeded:
    token: str
    customer_id: int
    item_count: int


def sku(number: int) -> str:
    return f"BENCH-{number:05d}"


def migrate(database_url: str, repo: Path) -> None:
    env = {**os.environ, "STOCKROOM_DATABASE_URL": database_url}
    subprocess.run(
        [str(repo / ".venv/bin/stockroom"), "db", "upgrade"],
        env=env,
        cwd=repo,
        check=True,
        stdout=subprocess.DEVNULL,
    )


async def _orders_tables_exist(database_url: str) -> bool:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            names = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
        return {"orders", "order_lines"} <= set(names)
    finally:
        await engine.dispose()


async def _seed(database_url: str, secret_key: str, *, require_orders: bool) -> Seeded:
    if require_orders and not await _orders_tables_exist(database_url):
        raise RuntimeError("the migrated schema has no orders/order_lines tables")
    settings = Settings(
        database_url=database_url,
        secret_key=secret_key,
        token_lifetime_minutes=TOKEN_LIFETIME_MINUTES,
    )
    container = build_container(settings)
    try:
        # One unit of work for the whole catalog: ids 1..ITEM_COUNT, in SKU order.
        async with container.uow() as uow:
            for number in range(1, ITEM_COUNT + 1):
                item = Item(
                    title=f"Bench item {number}",
                    sku=sku(number),
                    description=f"Item number {number}, seeded for the benchmarks. " * 2,
                    price=Decimal(100 + number % 900) + Decimal("0.99"),
                    quantity=MAX_QUANTITY,  # never runs out, whatever the run orders
                )
                await uow.items.add(item)
            await uow.commit()
        customer = await user_services.register(
            container.uow(), container.password_hasher(), CUSTOMER_EMAIL, CUSTOMER_PASSWORD
        )
        token = container.token_codec().issue(customer.id, customer.role.value)
    finally:
        await dispose(container)
    if database_url.startswith("sqlite"):
        await _checkpoint_sqlite(database_url)
    return Seeded(token=token, customer_id=customer.id, item_count=ITEM_COUNT)


async def _checkpoint_sqlite(database_url: str) -> None:
    """Fold the WAL into the main file so that copying that one file copies the database."""
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            await connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            await connection.execute(text("SELECT 1"))
    finally:
        await engine.dispose()


def seed(
    database_url: str,
    secret_key: str,
    repo: Path,
    *,
    require_orders: bool,
) -> Seeded:
    migrate(database_url, repo)
    return asyncio.run(
        _seed(
            database_url,
            secret_key,
            require_orders=require_orders,
        )
    )
