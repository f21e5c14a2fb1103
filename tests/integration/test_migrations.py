"""Alembic is the only thing that creates the schema; it must match the mapped tables."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection

from adapters.database import Database
from adapters.orm import metadata
from entrypoints import migrations


async def test_database_is_at_the_head_revision(database: Database) -> None:
    url = database.url.render_as_string(hide_password=False)
    head = migrations.head_revision(url)
    assert head is not None, "no migration at all"
    assert await migrations.current_revision(database.engine) == head


async def test_migrations_and_mapped_tables_agree(database: Database) -> None:
    def diff(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))

    async with database.engine.connect() as connection:
        pending = await connection.run_sync(diff)
    assert pending == [], f"models and migrations disagree; autogenerate would emit: {pending}"
