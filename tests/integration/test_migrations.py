"""Alembic is the only thing that creates the schema; it must match the mapped tables."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, closing
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Connection, make_url

from adapters.database import Database
from adapters.orm import items, metadata, order_lines, orders, users
from entrypoints import migrations
from migrations.dialects import include_object_for
from tests.integration.conftest import POSTGRES_URL, postgres_unavailable
from tests.integration.failure_support import asyncpg_dsn


async def test_database_is_at_the_head_revision(database: Database) -> None:
    url = database.url.render_as_string(hide_password=False)
    head = migrations.head_revision(url)
    assert head is not None, "no migration at all"
    assert await migrations.current_revision(database.engine) == head


async def test_migrations_and_mapped_tables_agree(database: Database) -> None:
    def diff(connection: Connection) -> list[Any]:
        # As migrations/env.py compares: what one database only has is left out elsewhere.
        include = include_object_for(connection.dialect.name)
        options = {"compare_type": True, "include_object": include}
        context = MigrationContext.configure(connection, opts=options)
        return list(compare_metadata(context, metadata))

    async with database.engine.connect() as connection:
        pending = await connection.run_sync(diff)
    assert pending == [], f"models and migrations disagree; autogenerate would emit: {pending}"


# --- 0004: ids never reused, and a credentials version per user ----------------------------

_ROWS_AT_0003 = [
    "INSERT INTO items (id, sku, title, price_cents, quantity) VALUES (7, 'CUP', 'Cup', 750, 3)",
    "INSERT INTO users (id, email, password_hash, role, is_active, created_at)"
    " VALUES (5, 'ann@example.com', 'hash', 'customer', true, '2026-01-01 00:00:00+00:00')",
    "INSERT INTO orders (id, customer_id, status, created_at, updated_at)"
    " VALUES (9, 5, 'placed', '2026-01-01 00:00:00+00:00', '2026-01-01 00:00:00+00:00')",
    "INSERT INTO order_lines (id, order_id, item_id, sku, quantity, unit_price_cents)"
    " VALUES (11, 9, 7, 'CUP', 1, 750)",
    "INSERT INTO idempotency_keys (customer_id, key, request_fingerprint, order_id, created_at)"
    " VALUES (5, 'k-1', 'fp', 9, '2026-01-01 00:00:00+00:00')",
]
_COUNTED = ("items", "users", "orders", "order_lines", "idempotency_keys")


async def _upgrade_0003_to_head_with_rows(url: str) -> dict[str, int]:
    """A database at 0003 with one row in each table, upgraded to the head: row counts."""
    database = Database(url)
    try:
        await migrations.upgrade_engine(database.engine, "0003_orders")
        async with database.engine.begin() as connection:
            for statement in _ROWS_AT_0003:
                await connection.execute(text(statement))
        await migrations.upgrade_engine(database.engine)
        async with database.engine.connect() as connection:
            counts = {}
            for table in _COUNTED:
                count = text(f"SELECT count(*) FROM {table}")  # noqa: S608 - our own names
                counts[table] = (await connection.execute(count)).scalar_one()
            version = await connection.execute(text("SELECT credentials_version FROM users"))
            assert version.scalar_one() == 0
        return counts
    finally:
        await database.dispose()


async def test_0004_keeps_every_row_and_makes_sqlite_ids_autoincrement(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    assert await _upgrade_0003_to_head_with_rows(url) == dict.fromkeys(_COUNTED, 1)

    with closing(sqlite3.connect(tmp_path / "old.db")) as connection:
        schema = dict(connection.execute("SELECT name, sql FROM sqlite_master WHERE type='table'"))
        assert connection.execute("PRAGMA foreign_key_check").fetchall() == []
        sequences = dict(connection.execute("SELECT name, seq FROM sqlite_sequence"))
    for table in ("items", "users", "orders", "order_lines"):
        assert "AUTOINCREMENT" in schema[table], table
    assert sequences == {"items": 7, "users": 5, "orders": 9, "order_lines": 11}


async def test_sqlite_migrations_leave_foreign_keys_enforced(tmp_path: Path) -> None:
    """Foreign keys are off while SQLite migrates; the pooled connection gets them back."""
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'fk.db'}")
    try:
        await migrations.upgrade_engine(database.engine)
        async with database.engine.connect() as connection:
            enforced = await connection.execute(text("PRAGMA foreign_keys"))
            assert enforced.scalar_one() == 1
    finally:
        await database.dispose()


@pytest.mark.postgres
async def test_0004_keeps_every_row_on_postgres() -> None:
    async with fresh_postgres_database() as url:
        assert await _upgrade_0003_to_head_with_rows(url) == dict.fromkeys(_COUNTED, 1)


def test_fresh_sqlite_schemas_never_reuse_ids() -> None:
    """The mapped tables say AUTOINCREMENT too, so a schema built from them matches."""
    for table in (items, users, orders, order_lines):
        assert table.dialect_kwargs.get("sqlite_autoincrement") is True, table.name


@asynccontextmanager
async def fresh_postgres_database() -> AsyncIterator[str]:
    """An empty database of this test's own (no schema at all), dropped afterwards."""
    name = f"stockroom_test_migrate_{uuid.uuid4().hex[:10]}"
    try:
        admin = await asyncpg.connect(asyncpg_dsn(POSTGRES_URL), timeout=5)
    except (OSError, asyncpg.PostgresError) as error:
        postgres_unavailable(str(error))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
