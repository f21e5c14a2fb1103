"""The rows every target serves, made by Stockroom itself: the schema by `stockroom db
upgrade`, the rows by its service functions, the customer's token by its token codec."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
from contextlib import closing
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from bench.cases import sku
from domain.item import MAX_QUANTITY
from entrypoints.container import build_container, dispose
from entrypoints.settings import Settings
from service_layer.services import items, users

ITEM_COUNT = 1000  # ids 1..1000 in SKU order; stock MAX_QUANTITY, so no run ever sells out


@dataclass(frozen=True)
class Seeded:
    token: str  # the customer's bearer token, valid for a day
    customer_id: int


async def _seed(url: str, secret_key: str) -> Seeded:
    settings = Settings(database_url=url, secret_key=secret_key, token_lifetime_minutes=24 * 60)
    container = build_container(settings)
    try:
        for number in range(1, ITEM_COUNT + 1):
            new = items.NewItem(
                title=f"Bench item {number}",
                sku=sku(number),
                description=f"Item number {number}, seeded for the benchmarks. " * 2,
                price=Decimal(100 + number % 900) + Decimal("0.99"),
                quantity=MAX_QUANTITY,
            )
            await items.add_item(container.uow(), new)
        customer = await users.register(
            container.uow(),
            container.password_hasher(),
            "bench-customer@example.com",
            "bench-password-1",
        )
        return Seeded(container.token_codec().issue(customer.id, customer.role.value), customer.id)
    finally:
        await dispose(container)


def seed(repo: Path, env: dict[str, str], url: str, sqlite_path: str = "") -> Seeded:
    """Migrate and seed ``url``. A SQLite file is then checkpointed: the copies are of that
    one file, so the write-ahead log must be folded into it."""
    upgrade = [str(repo / ".venv/bin/stockroom"), "db", "upgrade"]
    env = {**env, "STOCKROOM_DATABASE_URL": url}
    subprocess.run(upgrade, env=env, cwd=repo, check=True, stdout=subprocess.DEVNULL)
    seeded = asyncio.run(_seed(url, env["STOCKROOM_SECRET_KEY"]))
    if sqlite_path:
        with closing(sqlite3.connect(sqlite_path)) as connection:
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return seeded
