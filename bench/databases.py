"""Throwaway databases: one seeded template per backend, a fresh copy for every server run.

Every comparator starts from byte-for-byte the same rows (the template), and no run sees the
orders an earlier run placed.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

import asyncpg

ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


@dataclass(frozen=True)
class PgServer:
    """Where PostgreSQL is, split the way each client wants it."""

    host: str = "127.0.0.1"
    port: int = 5432
    user: str = "postgres"

    @classmethod
    def from_admin_url(cls) -> PgServer:
        from sqlalchemy.engine import make_url

        url = make_url(ADMIN_URL)
        return cls(host=url.host or "127.0.0.1", port=url.port or 5432, user=url.username or "")

    def url(self, database: str, driver: str = "postgresql+asyncpg") -> str:
        return f"{driver}://{self.user}@{self.host}:{self.port}/{database}"


def new_name(prefix: str = "stockroom_bench") -> str:
    return f"{prefix}_{secrets.token_hex(4)}"


async def _admin(*statements: str) -> None:
    connection = await asyncpg.connect(ADMIN_URL)
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


def create_pg(name: str, template: str | None = None) -> None:
    clause = f' TEMPLATE "{template}"' if template else ""
    asyncio.run(_admin(f'CREATE DATABASE "{name}"{clause}'))


def drop_pg(*names: str) -> None:
    asyncio.run(_admin(*(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)' for name in names)))


def copy_sqlite(template: Path, target: Path) -> None:
    """The template is checkpointed (no -wal file), so the main file is the whole database."""
    shutil.copyfile(template, target)


def sqlite_url(path: Path, driver: str = "sqlite+aiosqlite") -> str:
    return f"{driver}:///{path}"
