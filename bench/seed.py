"""The rows every target serves, made by Stockroom itself: the schema by `stockroom db
upgrade`, the rows by its service functions, the customer's token by its token codec."""

import asyncio
import sqlite3
import subprocess
from decimal import Decimal
from pathlib import Path
from typing import NamedTuple

from bench.cases import sku
from domain.item import MAX_QUANTITY
from entrypoints.container import build_container, dispose
from entrypoints.settings import Settings
from service_layer.services import items, users

ITEM_COUNT = 1000  # ids 1..1000 in SKU order, MAX_QUANTITY each: no run ever sells out
CUSTOMER = ("bench-customer@example.com", "bench-password-1")  # email, password


class Seeded(NamedTuple):
    token: str  # the customer's bearer token, valid for a day
    customer_id: int


async def _seed(settings: Settings) -> Seeded:
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
        hasher = container.password_hasher()
        customer = await users.register(container.uow(), hasher, *CUSTOMER)
        token = container.token_codec().issue(
            customer.id, customer.role.value, credentials_version=customer.credentials_version
        )
        return Seeded(token, customer.id)
    finally:
        await dispose(container)


def seed(repo: Path, env: dict[str, str], url: str, template: str) -> Seeded:
    env = env | {"STOCKROOM_DATABASE_URL": url}
    upgrade = [str(repo / ".venv/bin/stockroom"), "db", "upgrade"]
    subprocess.run(upgrade, env=env, cwd=repo, check=True, stdout=subprocess.DEVNULL)
    key = env["STOCKROOM_SECRET_KEY"]
    lifetime = int(env["STOCKROOM_TOKEN_LIFETIME_MINUTES"])  # the servers' own (bench/run.py)
    settings = Settings(database_url=url, secret_key=key, token_lifetime_minutes=lifetime)
    seeded = asyncio.run(_seed(settings))
    if url.startswith("sqlite"):  # fold the write-ahead log in: the copies copy the file only
        connection = sqlite3.connect(template)
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        connection.close()
    return seeded
