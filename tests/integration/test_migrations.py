"""Alembic is the only thing that creates the schema; it must match the mapped tables."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.orm import metadata
from entrypoints import migrations


async def test_database_is_at_the_head_revision(engine: AsyncEngine) -> None:
    url = engine.url.render_as_string(hide_password=False)
    assert await migrations.current_revision(engine) == migrations.head_revision(url)


async def test_migrations_and_mapped_tables_agree(engine: AsyncEngine) -> None:
    def diff(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))

    async with engine.connect() as connection:
        pending = await connection.run_sync(diff)
    assert pending == [], f"models and migrations disagree; autogenerate would emit: {pending}"
