"""Ceiling: a minimal FastAPI app doing the same SQL by hand, with no ORM and no unit of work.

PostgreSQL: a raw asyncpg pool. SQLite: raw aiosqlite connections configured as Stockroom
configures SQLite (WAL, busy timeout, ``BEGIN IMMEDIATE`` for writes). Either way with
Stockroom's default connection budget per worker.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aiosqlite
import asyncpg
from fastapi import FastAPI, Query, Request, status

from bench.baselines import common
from entrypoints.settings import Settings

ITEM_COLUMNS = "id, sku, title, description, price_cents, quantity"
LOCK_ITEMS = "SELECT id, sku, price_cents, quantity FROM items WHERE sku"
INSERT_ORDER = "INSERT INTO orders (customer_id, status, created_at, updated_at) VALUES "
INSERT_LINE = "INSERT INTO order_lines (order_id, item_id, sku, quantity, unit_price_cents) VALUES "
Placed = tuple[int, list[Any], datetime]  # the order's id, its locked item rows, its time


def _line_rows(order_id: int, rows: list[Any], wanted: dict[str, int]) -> list[tuple[Any, ...]]:
    return [(order_id, r["id"], r["sku"], wanted[r["sku"]], r["price_cents"]) for r in rows]


class PgBackend:
    ITEM = f"SELECT {ITEM_COLUMNS} FROM items WHERE id = $1"
    PAGE = f"SELECT {ITEM_COLUMNS} FROM items ORDER BY id OFFSET $1 LIMIT $2"
    USER = "SELECT is_active FROM users WHERE id = $1"
    LOCK = LOCK_ITEMS + " = ANY($1::varchar[]) ORDER BY id FOR UPDATE"
    TAKE = "UPDATE items SET quantity = quantity - $2 WHERE id = $1"
    ORDER = INSERT_ORDER + "($1, $2, $3, $3) RETURNING id"
    LINE = INSERT_LINE + "($1, $2, $3, $4, $5)"

    def __init__(self, config: common.Config) -> None:
        self.config = config

    async def start(self) -> None:
        dsn = self.config.database_url.replace("postgresql+asyncpg://", "postgresql://", 1)
        size, overflow = self.config.pool_size, self.config.max_overflow
        self.pool = await asyncpg.create_pool(dsn, min_size=size, max_size=size + overflow)

    async def stop(self) -> None:
        await self.pool.close()

    async def get_item(self, item_id: int) -> Any:
        return await self.pool.fetchrow(self.ITEM, item_id)

    async def list_items(self, skip: int, limit: int) -> list[Any]:
        return await self.pool.fetch(self.PAGE, skip, limit)

    async def active_user(self, user_id: int) -> bool:
        row = await self.pool.fetchrow(self.USER, user_id)
        return bool(row and row["is_active"])

    async def place_order(self, customer_id: int, wanted: dict[str, int]) -> Placed:
        created = datetime.now(UTC)
        async with self.pool.acquire() as db, db.transaction():
            rows = await db.fetch(self.LOCK, list(wanted))
            common.check_stock(wanted, {row["sku"]: row["quantity"] for row in rows})
            for row in rows:
                await db.execute(self.TAKE, row["id"], wanted[row["sku"]])
            order_id = await db.fetchval(self.ORDER, customer_id, common.ORDER_STATUS, created)
            await db.executemany(self.LINE, _line_rows(order_id, rows, wanted))
        return order_id, rows, created


class SqliteBackend:
    """A small pool: up to size + overflow connections per process, as Stockroom's engine has."""

    ITEM = f"SELECT {ITEM_COLUMNS} FROM items WHERE id = ?"
    PAGE = f"SELECT {ITEM_COLUMNS} FROM items ORDER BY id LIMIT ? OFFSET ?"
    USER = "SELECT is_active FROM users WHERE id = ?"
    TAKE = "UPDATE items SET quantity = quantity - ? WHERE id = ?"
    ORDER = INSERT_ORDER + "(?, ?, ?, ?) RETURNING id"
    LINE = INSERT_LINE + "(?, ?, ?, ?, ?)"
    PRAGMAS = ("journal_mode=WAL", "busy_timeout=5000", "foreign_keys=ON", "synchronous=NORMAL")
    DATETIME = "%Y-%m-%d %H:%M:%S.%f"  # SQLAlchemy's storage format: rows read the same

    def __init__(self, config: common.Config) -> None:
        self.path = config.database_url.split(":///", 1)[1]
        self.idle: asyncio.LifoQueue[aiosqlite.Connection] = asyncio.LifoQueue()
        self.opened: list[aiosqlite.Connection] = []
        self.slots = asyncio.Semaphore(config.pool_size + config.max_overflow)

    async def start(self) -> None:
        return None  # connections open on demand

    async def stop(self) -> None:
        for connection in self.opened:
            await connection.close()

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self.slots:
            if self.idle.empty():
                db = await aiosqlite.connect(self.path, timeout=5.0, isolation_level=None)
                db.row_factory = aiosqlite.Row
                for pragma in self.PRAGMAS:
                    await db.execute(f"PRAGMA {pragma}")
                self.opened.append(db)
            else:
                db = self.idle.get_nowait()
            try:
                yield db
            finally:
                self.idle.put_nowait(db)

    async def _fetch(self, sql: str, *params: Any) -> list[Any]:
        async with self.connection() as db, db.execute(sql, params) as cursor:
            return list(await cursor.fetchall())

    async def get_item(self, item_id: int) -> Any:
        rows = await self._fetch(self.ITEM, item_id)
        return rows[0] if rows else None

    async def list_items(self, skip: int, limit: int) -> list[Any]:
        return await self._fetch(self.PAGE, limit, skip)

    async def active_user(self, user_id: int) -> bool:
        rows = await self._fetch(self.USER, user_id)
        return bool(rows and rows[0]["is_active"])

    async def place_order(self, customer_id: int, wanted: dict[str, int]) -> Placed:
        created = datetime.now(UTC)
        stamp = created.strftime(self.DATETIME)
        lock = f"{LOCK_ITEMS} IN ({', '.join('?' * len(wanted))}) ORDER BY id"
        async with self.connection() as db:
            await db.execute("BEGIN IMMEDIATE")  # SQLite's way to lock: the whole database
            try:
                async with db.execute(lock, tuple(wanted)) as cursor:
                    rows = list(await cursor.fetchall())
                common.check_stock(wanted, {row["sku"]: row["quantity"] for row in rows})
                for row in rows:
                    await db.execute(self.TAKE, (wanted[row["sku"]], row["id"]))
                order = (customer_id, common.ORDER_STATUS, stamp, stamp)
                async with db.execute(self.ORDER, order) as cursor:
                    order_id = (await cursor.fetchone())[0]
                await db.executemany(self.LINE, _line_rows(order_id, rows, wanted))
                await db.execute("COMMIT")
            except BaseException:
                await db.execute("ROLLBACK")
                raise
        return order_id, rows, created


def create_app() -> FastAPI:
    stockroom = Settings.model_fields  # Stockroom's default pool, unless the run sets one
    size, overflow = stockroom["pool_size"].default, stockroom["pool_max_overflow"].default
    config = common.Config.from_env(default_size=size, default_overflow=overflow)
    sqlite = config.database_url.startswith("sqlite")
    backend = SqliteBackend(config) if sqlite else PgBackend(config)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await backend.start()
        yield
        await backend.stop()

    app = FastAPI(title="ceiling", lifespan=lifespan)

    @app.get("/items/{item_id}")
    async def read_item(item_id: int) -> Any:
        row = await backend.get_item(item_id)
        if row is None:
            raise common.not_found(item_id)
        return common.item_json(row)

    @app.get("/items/")
    async def list_items(skip: int = Query(0, ge=0), limit: int = Query(100, ge=1, le=100)) -> Any:
        return [common.item_json(row) for row in await backend.list_items(skip, limit)]

    @app.post("/orders/", status_code=status.HTTP_201_CREATED)
    async def place_order(body: common.OrderIn, request: Request) -> Any:
        authorization = request.headers.get("authorization")
        user_id = common.user_id_from_header(authorization, config.secret_key)
        if not await backend.active_user(user_id):
            raise common.unauthenticated()
        wanted = body.wanted()
        order_id, rows, created = await backend.place_order(user_id, wanted)
        return common.order_json(order_id, user_id, created, rows, wanted)

    return app
