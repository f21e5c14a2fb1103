"""The ceiling's PostgreSQL data access: hand-written SQL on a raw asyncpg pool."""

from __future__ import annotations

from typing import Any

import asyncpg

from bench.baselines.common import (
    ORDER_STATUS,
    Config,
    LineIn,
    line_json,
    now,
    out_of_stock,
    unknown_sku,
)

ITEM_COLUMNS = "id, sku, title, description, price_cents, quantity"


class PgBackend:
    def __init__(self, config: Config) -> None:
        self._config = config
        self._pool: asyncpg.Pool | None = None

    async def start(self) -> None:
        dsn = self._config.database_url.replace("postgresql+asyncpg://", "postgresql://", 1)
        # Same connection budget as Stockroom's pool: size + overflow.
        self._pool = await asyncpg.create_pool(
            dsn,
            min_size=self._config.pool_size,
            max_size=self._config.pool_size + self._config.max_overflow,
        )

    async def stop(self) -> None:
        if self._pool is not None:
            await self._pool.close()

    @property
    def pool(self) -> asyncpg.Pool:
        assert self._pool is not None
        return self._pool

    async def get_item(self, item_id: int) -> Any:
        return await self.pool.fetchrow(f"SELECT {ITEM_COLUMNS} FROM items WHERE id = $1", item_id)

    async def list_items(self, skip: int, limit: int) -> list[Any]:
        return await self.pool.fetch(
            f"SELECT {ITEM_COLUMNS} FROM items ORDER BY id OFFSET $1 LIMIT $2", skip, limit
        )

    async def active_user(self, user_id: int) -> bool:
        row = await self.pool.fetchrow("SELECT is_active FROM users WHERE id = $1", user_id)
        return bool(row and row["is_active"])

    async def place_order(self, customer_id: int, lines: list[LineIn]) -> tuple[int, Any, list]:
        wanted = {line.sku.strip().upper(): line.quantity for line in lines}
        created = now()
        async with self.pool.acquire() as connection, connection.transaction():
            rows = await connection.fetch(
                "SELECT id, sku, price_cents, quantity FROM items"
                " WHERE sku = ANY($1::varchar[]) ORDER BY id FOR UPDATE",
                list(wanted),
            )
            found = {row["sku"]: row for row in rows}
            for sku_, quantity in wanted.items():
                if sku_ not in found:
                    raise unknown_sku(sku_)
                if found[sku_]["quantity"] < quantity:
                    raise out_of_stock(sku_)
            for row in rows:
                await connection.execute(
                    "UPDATE items SET quantity = quantity - $2 WHERE id = $1",
                    row["id"],
                    wanted[row["sku"]],
                )
            order_id = await connection.fetchval(
                "INSERT INTO orders (customer_id, status, created_at, updated_at)"
                " VALUES ($1, $2, $3, $3) RETURNING id",
                customer_id,
                ORDER_STATUS,
                created,
            )
            await connection.executemany(
                "INSERT INTO order_lines (order_id, item_id, sku, quantity, unit_price_cents)"
                " VALUES ($1, $2, $3, $4, $5)",
                [
                    (order_id, row["id"], row["sku"], wanted[row["sku"]], row["price_cents"])
                    for row in rows
                ],
            )
        out = [
            line_json(row["id"], row["sku"], wanted[row["sku"]], row["price_cents"]) for row in rows
        ]
        return order_id, created, out
