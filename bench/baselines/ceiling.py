"""Ceiling: a minimal FastAPI app doing the same SQL by hand, with no ORM and no unit of work.

PostgreSQL: a raw asyncpg pool. SQLite: raw aiosqlite connections configured as Stockroom
configures SQLite (WAL, busy timeout, ``BEGIN IMMEDIATE`` for writes). Either way the
connection budget is Stockroom's default pool per worker.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import aiosqlite
import asyncpg
from fastapi import FastAPI, Query, Request, status

from bench.baselines.common import (
    ORDER_STATUS,
    Config,
    OrderIn,
    check_stock,
    item_json,
    not_found,
    now,
    order_json,
    unauthenticated,
    user_id_from_header,
)
from entrypoints.settings import Settings

ITEM_COLUMNS = "id, sku, title, description, price_cents, quantity"
INSERT_LINE = "INSERT INTO order_lines (order_id, item_id, sku, quantity, unit_price_cents) "
BUSY_TIMEOUT_MS = 5000
# SQLAlchemy's SQLite DATETIME storage format: the rows must read the same either way.
SQLITE_DATETIME = "%Y-%m-%d %H:%M:%S.%f"
Placed = tuple[int, list[Any], datetime]  # the order's id, its locked item rows, its time


def _line_rows(order_id: int, rows: list[Any], wanted: dict[str, int]) -> list[tuple[Any, ...]]:
    return [(order_id, r["id"], r["sku"], wanted[r["sku"]], r["price_cents"]) for r in rows]


class PgBackend:
    def __init__(self, config: Config) -> None:
        self.config = config

    async def start(self) -> None:
        dsn = self.config.database_url.replace("postgresql+asyncpg://", "postgresql://", 1)
        size = self.config.pool_size
        self.pool = await asyncpg.create_pool(
            dsn, min_size=size, max_size=size + self.config.max_overflow
        )

    async def stop(self) -> None:
        await self.pool.close()

    async def get_item(self, item_id: int) -> Any:
        return await self.pool.fetchrow(f"SELECT {ITEM_COLUMNS} FROM items WHERE id = $1", item_id)

    async def list_items(self, skip: int, limit: int) -> list[Any]:
        return await self.pool.fetch(
            f"SELECT {ITEM_COLUMNS} FROM items ORDER BY id OFFSET $1 LIMIT $2", skip, limit
        )

    async def active_user(self, user_id: int) -> bool:
        row = await self.pool.fetchrow("SELECT is_active FROM users WHERE id = $1", user_id)
        return bool(row and row["is_active"])

    async def place_order(self, customer_id: int, wanted: dict[str, int]) -> Placed:
        created = now()
        async with self.pool.acquire() as db, db.transaction():
            rows = await db.fetch(
                "SELECT id, sku, price_cents, quantity FROM items"
                " WHERE sku = ANY($1::varchar[]) ORDER BY id FOR UPDATE",
                list(wanted),
            )
            check_stock(wanted, {row["sku"]: row["quantity"] for row in rows})
            for row in rows:
                await db.execute(
                    "UPDATE items SET quantity = quantity - $2 WHERE id = $1",
                    row["id"],
                    wanted[row["sku"]],
                )
            order_id = await db.fetchval(
                "INSERT INTO orders (customer_id, status, created_at, updated_at)"
                " VALUES ($1, $2, $3, $3) RETURNING id",
                customer_id,
                ORDER_STATUS,
                created,
            )
            lines = _line_rows(order_id, rows, wanted)
            await db.executemany(INSERT_LINE + "VALUES ($1, $2, $3, $4, $5)", lines)
        return order_id, rows, created


class SqliteBackend:
    """A small pool: up to size + overflow connections per process, as Stockroom's engine has."""

    def __init__(self, config: Config) -> None:
        self.path = config.database_url.split(":///", 1)[1]
        self.idle: asyncio.LifoQueue[aiosqlite.Connection] = asyncio.LifoQueue()
        self.opened: list[aiosqlite.Connection] = []
        self.slots = asyncio.Semaphore(config.pool_size + config.max_overflow)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        for connection in self.opened:
            await connection.close()

    async def _open(self) -> aiosqlite.Connection:
        db = await aiosqlite.connect(
            self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None
        )
        db.row_factory = aiosqlite.Row
        await db.execute("PRAGMA journal_mode=WAL")
        for pragma in (f"busy_timeout={BUSY_TIMEOUT_MS}", "foreign_keys=ON", "synchronous=NORMAL"):
            await db.execute(f"PRAGMA {pragma}")
        self.opened.append(db)
        return db

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self.slots:
            db = self.idle.get_nowait() if not self.idle.empty() else await self._open()
            try:
                yield db
            finally:
                self.idle.put_nowait(db)

    async def _fetch(self, sql: str, *params: Any) -> list[Any]:
        async with self.connection() as db, db.execute(sql, params) as cursor:
            return list(await cursor.fetchall())

    async def get_item(self, item_id: int) -> Any:
        rows = await self._fetch(f"SELECT {ITEM_COLUMNS} FROM items WHERE id = ?", item_id)
        return rows[0] if rows else None

    async def list_items(self, skip: int, limit: int) -> list[Any]:
        sql = f"SELECT {ITEM_COLUMNS} FROM items ORDER BY id LIMIT ? OFFSET ?"
        return await self._fetch(sql, limit, skip)

    async def active_user(self, user_id: int) -> bool:
        rows = await self._fetch("SELECT is_active FROM users WHERE id = ?", user_id)
        return bool(rows and rows[0]["is_active"])

    async def place_order(self, customer_id: int, wanted: dict[str, int]) -> Placed:
        created = now()
        stamp = created.strftime(SQLITE_DATETIME)
        async with self.connection() as db:
            await db.execute("BEGIN IMMEDIATE")  # SQLite's lock for the whole write
            try:
                marks = ", ".join("?" * len(wanted))
                sql = f"SELECT id, sku, price_cents, quantity FROM items WHERE sku IN ({marks})"
                async with db.execute(sql + " ORDER BY id", tuple(wanted)) as cursor:
                    rows = list(await cursor.fetchall())
                check_stock(wanted, {row["sku"]: row["quantity"] for row in rows})
                for row in rows:
                    await db.execute(
                        "UPDATE items SET quantity = quantity - ? WHERE id = ?",
                        (wanted[row["sku"]], row["id"]),
                    )
                async with db.execute(
                    "INSERT INTO orders (customer_id, status, created_at, updated_at)"
                    " VALUES (?, ?, ?, ?) RETURNING id",
                    (customer_id, ORDER_STATUS, stamp, stamp),
                ) as cursor:
                    order_id = (await cursor.fetchone())[0]
                lines = _line_rows(order_id, rows, wanted)
                await db.executemany(INSERT_LINE + "VALUES (?, ?, ?, ?, ?)", lines)
                await db.execute("COMMIT")
            except BaseException:
                await db.execute("ROLLBACK")
                raise
        return order_id, rows, created


def create_app() -> FastAPI:
    # Stockroom's default connection budget (a fixed pool per worker), unless the run sets one.
    stockroom = Settings.model_fields
    config = Config.from_env(
        default_size=stockroom["pool_size"].default,
        default_overflow=stockroom["pool_max_overflow"].default,
    )
    sqlite = config.database_url.startswith("sqlite")
    backend = SqliteBackend(config) if sqlite else PgBackend(config)

    @contextlib.asynccontextmanager
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
        wanted = body.wanted()
        order_id, rows, created = await backend.place_order(user_id, wanted)
        return order_json(order_id, user_id, created, rows, wanted)

    return app
