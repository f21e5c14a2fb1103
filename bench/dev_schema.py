"""Development stand-in for the orders tables, used only while Stockroom's own migration for
them has not landed (``BENCH_ALLOW_MISSING_ORDERS=1``): it lets the baselines' POST /orders/
be exercised. A real run refuses to start without the migrated tables."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
)
from sqlalchemy.ext.asyncio import create_async_engine

metadata = MetaData()

orders = Table(
    "orders",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("customer_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

order_lines = Table(
    "order_lines",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("order_id", Integer, ForeignKey("orders.id"), nullable=False, index=True),
    Column("item_id", Integer, ForeignKey("items.id"), nullable=False),
    Column("sku", String(64), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("unit_price_cents", BigInteger, nullable=False),
)


async def create_orders_tables(database_url: str) -> None:
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as connection:
            # The users/items tables exist (migrated); reflect them so the foreign keys resolve.
            await connection.run_sync(
                lambda sync: metadata.reflect(sync, only=["users", "items"])
            )
            await connection.run_sync(
                lambda sync: metadata.create_all(sync, tables=[orders, order_lines])
            )
    finally:
        await engine.dispose()
