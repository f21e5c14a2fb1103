"""The import benchmark's baseline: the same rows written with plain SQLAlchemy Core
``executemany`` on an async engine of the same driver, into the project's own ``items`` table
(adapters/orm.py, so prices go through its ``Cents`` type exactly as Stockroom's writes do).

Timed from opening the CSV file to the last commit: parsing the file is part of the work, as
it is for the importer. What the baseline does not pay is an interpreter start and the
application's imports: it runs inside the bench's own process.
"""

import asyncio
import csv
import time
from collections.abc import Iterator
from decimal import Decimal
from itertools import islice
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, event, insert, update
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from adapters.orm import items

CHUNK = 1000  # rows per executemany, one transaction per chunk


def _chunks(rows: Iterator[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    while chunk := list(islice(rows, CHUNK)):
        yield chunk


def _rows(path: Path) -> Iterator[dict[str, Any]]:
    """The CSV's rows as the table's columns (an empty description is no description)."""
    with path.open(newline="", encoding="utf-8") as file:
        for row in csv.DictReader(file):
            yield {
                "sku": row["sku"],
                "title": row["title"],
                "description": row["description"] or None,
                "price_cents": Decimal(row["price"]),  # Cents binds it as an integer of cents
                "quantity": int(row["quantity"]),
            }


def _engine(url: str) -> AsyncEngine:
    engine = create_async_engine(url)
    if url.startswith("sqlite"):
        # The journal Stockroom gives every SQLite connection (adapters/sqlite.py): the
        # baseline must not lose only because it syncs the file on every commit.
        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

    return engine


async def _insert(url: str, path: Path) -> None:
    engine = _engine(url)
    try:
        statement = insert(items)
        for chunk in _chunks(_rows(path)):
            async with engine.begin() as connection:
                await connection.execute(statement, chunk)
    finally:
        await engine.dispose()


async def _update(url: str, path: Path) -> None:
    engine = _engine(url)
    try:
        statement = (
            update(items)
            .where(items.c.sku == bindparam("b_sku"))
            .values(
                title=bindparam("b_title"),
                description=bindparam("b_description"),
                price_cents=bindparam("b_price_cents"),
                quantity=bindparam("b_quantity"),
            )
        )
        for chunk in _chunks(_rows(path)):
            parameters = [{f"b_{name}": value for name, value in row.items()} for row in chunk]
            async with engine.begin() as connection:
                await connection.execute(statement, parameters)
    finally:
        await engine.dispose()


def run(phase: str, url: str, path: Path) -> float:
    """Write ``path``'s rows (``phase``: insert or update) into ``url``; the seconds taken."""
    write = {"insert": _insert, "update": _update}[phase]
    started = time.perf_counter()
    asyncio.run(write(url, path))
    return time.perf_counter() - started
