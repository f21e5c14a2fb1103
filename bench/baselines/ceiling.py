"""Ceiling: a minimal FastAPI app doing the same SQL with no ORM and no unit of work.

Run with ``uvicorn bench.baselines.ceiling:create_app --factory``; it reads Stockroom's own
environment variables (database URL, secret key, pool size).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Query, Request, status

from adapters.database import PoolSettings
from bench.baselines.ceiling_pg import PgBackend
from bench.baselines.ceiling_sqlite import SqliteBackend
from bench.baselines.common import (
    Config,
    OrderIn,
    item_json,
    not_found,
    order_json,
    unauthenticated,
    user_id_from_header,
)


def create_app() -> FastAPI:
    # The same connection budget as Stockroom's default pool (a fixed size per worker).
    stockroom_pool = PoolSettings()
    config = Config.from_env(
        default_size=stockroom_pool.size, default_overflow=stockroom_pool.max_overflow
    )
    backend = SqliteBackend(config) if config.is_sqlite else PgBackend(config)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await backend.start()
        try:
            yield
        finally:
            await backend.stop()

    app = FastAPI(title="ceiling", lifespan=lifespan)

    @app.get("/items/{item_id}")
    async def read_item(item_id: int) -> Any:
        row = await backend.get_item(item_id)
        if row is None:
            raise not_found(item_id)
        return item_json(row)

    @app.get("/items/")
    async def list_items(skip: int = Query(0, ge=0), limit: int = Query(100, ge=1, le=100)) -> Any:
        return [item_json(row) for row in await backend.list_items(skip, limit)]

    @app.post("/orders/", status_code=status.HTTP_201_CREATED)
    async def place_order(body: OrderIn, request: Request) -> Any:
        user_id = user_id_from_header(request.headers.get("authorization"), config.secret_key)
        if not await backend.active_user(user_id):
            raise unauthenticated()
        order_id, created, lines = await backend.place_order(user_id, body.lines)
        return order_json(order_id, user_id, created, lines)

    return app
