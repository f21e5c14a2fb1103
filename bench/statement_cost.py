"""What one read costs in the server process, by layer: CPU per statement, side by side.

Backs the findings in bench/README.md with a rerunnable measurement. One event loop, one
statement at a time (no load generator, no HTTP), the same SELECT of one item by id each time,
on a throwaway PostgreSQL database and a SQLite file migrated by ``stockroom db upgrade``:

PostgreSQL
- raw asyncpg ``fetch`` on an open connection;
- SQLAlchemy Core ``execute`` on an open connection (inside one transaction);
- asyncpg's pool ``fetchrow`` (acquire, query, release: release runs asyncpg's reset query);
- SQLAlchemy checkout + AUTOCOMMIT ``execute`` + checkin (Stockroom's lean read path).

SQLite
- raw aiosqlite ``execute`` + ``fetchall`` on an open connection;
- SQLAlchemy on aiosqlite: checkout + ``execute`` + checkin (one thread hand-off per driver call);
- Stockroom's sync reader: the same read on a pysqlite engine in one executor call.

CPU is the process's (``time.process_time``), so the server's side of every loopback send is
included and the database's own work is not. Usage: ``.venv/bin/python -m bench.statement_cost
[--reads 3000]``; needs PostgreSQL as ``make bench`` does.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiosqlite
import asyncpg
from sqlalchemy import Engine, bindparam, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.database import build_engine, read_only
from adapters.orm import items
from adapters.sqlite_reader import reader_for
from bench import databases, seed

REPO = Path(__file__).resolve().parent.parent
ROWS = 1000
RAW_SQL_PG = "SELECT id, sku, title, description, price_cents, quantity FROM items WHERE id = $1"
RAW_SQL_SQLITE = RAW_SQL_PG.replace("$1", "?")
BY_ID = select(
    items.c.id,
    items.c.sku,
    items.c.title,
    items.c.description,
    items.c.price_cents,
    items.c.quantity,
).where(items.c.id == bindparam("item_id"))


async def _fill(engine: AsyncEngine) -> None:
    rows = [
        {
            "sku": seed.sku(number),
            "title": f"Item {number}",
            "description": "x" * 80,
            "price_cents": Decimal("19.99"),
            "quantity": 10,
        }
        for number in range(1, ROWS + 1)
    ]
    async with engine.begin() as connection:
        await connection.execute(insert(items), rows)


async def _cpu_per_read(read: Callable[[int], Awaitable[Any]], reads: int) -> float:
    """Microseconds of process CPU per read, after a warm-up."""
    for number in range(200):
        await read(number % ROWS + 1)
    started = time.process_time()
    for number in range(reads):
        await read(number % ROWS + 1)
    return (time.process_time() - started) / reads * 1e6


async def _postgres(url: str, reads: int) -> list[tuple[str, float]]:
    engine = build_engine(url)
    await _fill(engine)
    figures = []
    try:
        async with engine.connect() as connection:
            raw = (await connection.get_raw_connection()).driver_connection
            assert raw is not None

            async def raw_fetch(item_id: int) -> Any:
                return await raw.fetch(RAW_SQL_PG, item_id)

            async def core_execute(item_id: int) -> Any:
                return (await connection.execute(BY_ID, {"item_id": item_id})).all()

            figures.append(("raw asyncpg fetch, open connection", raw_fetch))
            figures.append(("SQLAlchemy Core execute, open connection", core_execute))
            measured = [(name, await _cpu_per_read(read, reads)) for name, read in figures]
        dsn = url.replace("postgresql+asyncpg://", "postgresql://", 1)
        pool = await asyncpg.create_pool(dsn, min_size=2, max_size=2)
        try:

            async def pool_fetchrow(item_id: int) -> Any:
                return await pool.fetchrow(RAW_SQL_PG, item_id)

            measured.append(
                (
                    "asyncpg pool fetchrow (acquire, query, reset)",
                    await _cpu_per_read(pool_fetchrow, reads),
                )
            )
        finally:
            await pool.close()
        lean = read_only(engine)

        async def lean_read(item_id: int) -> Any:
            async with lean.connect() as connection:
                return (await connection.execute(BY_ID, {"item_id": item_id})).all()

        measured.append(
            (
                "SQLAlchemy checkout + AUTOCOMMIT execute + checkin",
                await _cpu_per_read(lean_read, reads),
            )
        )
        return measured
    finally:
        await engine.dispose()


async def _sqlite(url: str, path: Path, reads: int) -> list[tuple[str, float]]:
    engine = build_engine(url)
    await _fill(engine)
    measured = []
    try:
        async with aiosqlite.connect(path) as raw:

            async def raw_read(item_id: int) -> Any:
                async with raw.execute(RAW_SQL_SQLITE, (item_id,)) as cursor:
                    return await cursor.fetchall()

            measured.append(
                ("raw aiosqlite execute + fetchall", await _cpu_per_read(raw_read, reads))
            )
        lean = read_only(engine)

        async def aiosqlite_read(item_id: int) -> Any:
            async with lean.connect() as connection:
                return (await connection.execute(BY_ID, {"item_id": item_id})).all()

        measured.append(
            (
                "SQLAlchemy on aiosqlite: checkout + execute + checkin",
                await _cpu_per_read(aiosqlite_read, reads),
            )
        )
        reader = reader_for(engine)
        assert reader is not None, "a SQLite file engine has a reader"

        def sync_read(sync_engine: Engine, item_id: int) -> Any:
            with sync_engine.connect() as connection:
                return connection.execute(BY_ID, {"item_id": item_id}).all()

        async def reader_read(item_id: int) -> Any:
            return await reader.run(lambda sync_engine: sync_read(sync_engine, item_id))

        measured.append(
            ("Stockroom's sync reader: one executor call", await _cpu_per_read(reader_read, reads))
        )
        return measured
    finally:
        await engine.dispose()


def _print(title: str, measured: list[tuple[str, float]]) -> None:
    print(f"\n{title}\n")
    print("| what | CPU per read | vs first row |")
    print("|---|---:|---:|")
    base = measured[0][1]
    for name, micros in measured:
        print(f"| {name} | {micros:,.0f} us | {micros / base:.1f}x |")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.statement_cost", description=__doc__)
    parser.add_argument("--reads", type=int, default=3000)
    reads = parser.parse_args().reads
    pg = databases.PgServer.from_admin_url()
    name = databases.new_name("stockroom_cost")
    databases.create_pg(name)
    try:
        url = pg.url(name)
        seed.migrate(url, REPO)
        _print("PostgreSQL, one SELECT by id:", asyncio.run(_postgres(url, reads)))
    finally:
        databases.drop_pg(name)
    with tempfile.TemporaryDirectory(prefix="stockroom-cost-") as tmp:
        path = Path(tmp) / "cost.db"
        url = databases.sqlite_url(path)
        seed.migrate(url, REPO)
        _print("SQLite, one SELECT by id:", asyncio.run(_sqlite(url, path, reads)))


if __name__ == "__main__":
    main()
