"""The ceiling's SQLite data access: hand-written SQL on raw aiosqlite connections, configured
like Stockroom's (WAL, busy timeout, BEGIN IMMEDIATE for writes)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiosqlite

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
BUSY_TIMEOUT_MS = 5000
# SQLAlchemy's SQLite DATETIME storage format: the rows must read the same either way.
DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"


class SqliteBackend:
    """A small pool: up to size + overflow connections per process, as Stockroom's engine has."""

    def __init__(self, config: Config) -> None:
        self._path = config.database_url.split(":///", 1)[1]
        self._limit = config.pool_size + config.max_overflow
        self._idle: asyncio.LifoQueue[aiosqlite.Connection] = asyncio.LifoQueue()
        self._opened: list[aiosqlite.Connection] = []
        self._slots = asyncio.Semaphore(self._limit)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        for connection in self._opened:
            await connection.close()

    async def _open(self) -> aiosqlite.Connection:
        connection = await aiosqlite.connect(
            self._path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None
        )
        connection.row_factory = aiosqlite.Row
        for pragma in (
            "PRAGMA journal_mode=WAL",
            f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}",
            "PRAGMA foreign_keys=ON",
            "PRAGMA synchronous=NORMAL",
        ):
            await connection.execute(pragma)
        self._opened.append(connection)
        return connection

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._slots:
            connection = self._idle.get_nowait() if not self._idle.empty() else await self._open()
            try:
                yield connection
            finally:
                self._idle.put_nowait(connection)

    async def get_item(self, item_id: int) -> Any:
        async with (
            self.connection() as db,
            db.execute(f"SELECT {ITEM_COLUMNS} FROM items WHERE id = ?", (item_id,)) as cursor,
        ):
            return await cursor.fetchone()

    async def list_items(self, skip: int, limit: int) -> list[Any]:
        async with (
            self.connection() as db,
            db.execute(
                f"SELECT {ITEM_COLUMNS} FROM items ORDER BY id LIMIT ? OFFSET ?", (limit, skip)
            ) as cursor,
        ):
            return list(await cursor.fetchall())

    async def active_user(self, user_id: int) -> bool:
        async with (
            self.connection() as db,
            db.execute("SELECT is_active FROM users WHERE id = ?", (user_id,)) as cursor,
        ):
            row = await cursor.fetchone()
        return bool(row and row["is_active"])

    async def place_order(self, customer_id: int, lines: list[LineIn]) -> tuple[int, Any, list]:
        wanted = {line.sku.strip().upper(): line.quantity for line in lines}
        created = now()
        stamp = created.strftime(DATETIME_FORMAT)
        async with self.connection() as db:
            await db.execute("BEGIN IMMEDIATE")
            try:
                marks = ", ".join("?" * len(wanted))
                async with db.execute(
                    f"SELECT id, sku, price_cents, quantity FROM items WHERE sku IN ({marks})"
                    " ORDER BY id",
                    tuple(wanted),
                ) as cursor:
                    rows = list(await cursor.fetchall())
                found = {row["sku"]: row for row in rows}
                for sku_, quantity in wanted.items():
                    if sku_ not in found:
                        raise unknown_sku(sku_)
                    if found[sku_]["quantity"] < quantity:
                        raise out_of_stock(sku_)
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
                await db.executemany(
                    "INSERT INTO order_lines (order_id, item_id, sku, quantity, unit_price_cents)"
                    " VALUES (?, ?, ?, ?, ?)",
                    [
                        (order_id, row["id"], row["sku"], wanted[row["sku"]], row["price_cents"])
                        for row in rows
                    ],
                )
                await db.execute("COMMIT")
            except BaseException:
                await db.execute("ROLLBACK")
                raise
        out = [
            line_json(row["id"], row["sku"], wanted[row["sku"]], row["price_cents"]) for row in rows
        ]
        return order_id, created, out
