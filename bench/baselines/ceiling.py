"""Ceiling: a minimal FastAPI app doing the same SQL by hand on a raw asyncpg pool, with no ORM,
no unit of work and no middleware, and Stockroom's connection budget per worker."""

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
from fastapi import FastAPI, Request, status

from bench.baselines import common
from entrypoints.settings import Settings

ITEM = "SELECT id, sku, title, description, price_cents, quantity FROM items WHERE id = $1"
USER = "SELECT is_active FROM users WHERE id = $1"
LOCK = (
    "SELECT id, sku, price_cents, quantity FROM items WHERE sku = ANY($1::varchar[]) "
    "ORDER BY id FOR UPDATE"
)
TAKE = "UPDATE items SET quantity = quantity - $2 WHERE id = $1"
ORDER = (
    "INSERT INTO orders (customer_id, status, created_at, updated_at) VALUES ($1, $2, $3, $3) "
    "RETURNING id"
)
LINE = (
    "INSERT INTO order_lines (order_id, item_id, sku, quantity, unit_price_cents) "
    "VALUES ($1, $2, $3, $4, $5)"
)


def create_app() -> FastAPI:
    stockroom = Settings.model_fields  # Stockroom's default pool, unless the run sets one
    size, overflow = stockroom["pool_size"].default, stockroom["pool_max_overflow"].default
    config = common.Config.from_env(default_size=size, default_overflow=overflow)
    pools: list[asyncpg.Pool] = []

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        dsn = config.database_url.replace("postgresql+asyncpg://", "postgresql://", 1)
        max_size = config.pool_size + config.max_overflow
        pools.append(await asyncpg.create_pool(dsn, min_size=config.pool_size, max_size=max_size))
        yield
        await pools[0].close()

    app = FastAPI(title="ceiling", lifespan=lifespan)

    @app.get("/items/{item_id}")
    async def read_item(item_id: int) -> Any:
        row = await pools[0].fetchrow(ITEM, item_id)
        if row is None:
            raise common.not_found(item_id)
        return common.item_json(row)

    @app.post("/orders/", status_code=status.HTTP_201_CREATED)
    async def place_order(body: common.OrderIn, request: Request) -> Any:
        authorization = request.headers.get("authorization")
        user_id = common.user_id_from_header(authorization, config.secret_key)
        user = await pools[0].fetchrow(USER, user_id)
        if not (user and user["is_active"]):
            raise common.unauthenticated()
        wanted, created = body.wanted(), datetime.now(UTC)
        async with pools[0].acquire() as db, db.transaction():
            rows = await db.fetch(LOCK, list(wanted))
            common.check_stock(wanted, {row["sku"]: row["quantity"] for row in rows})
            for row in rows:
                await db.execute(TAKE, row["id"], wanted[row["sku"]])
            order_id = await db.fetchval(ORDER, user_id, common.ORDER_STATUS, created)
            lines = [
                (order_id, r["id"], r["sku"], wanted[r["sku"]], r["price_cents"]) for r in rows
            ]
            await db.executemany(LINE, lines)
        return common.order_json(order_id, user_id, created, rows, wanted)

    return app
