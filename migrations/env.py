"""Alembic environment: async engines, and a caller's connection when one is handed in.

``entrypoints.migrations`` upgrades one revision at a time: each migration is a transaction
of its own, under ``lock_timeout`` on PostgreSQL (``migrations/online.py``), tried again by
the caller when it could not get a lock. Each step records the oldest code that may serve
the schema it leaves (``migrations/window.py``)."""

from __future__ import annotations

import asyncio
from contextlib import nullcontext

from alembic import context
from sqlalchemy.engine import Connection, make_url

from adapters.database import Database
from adapters.orm import metadata
from adapters.postgres import Pooler
from adapters.sqlite import check_foreign_keys, foreign_keys_off, is_sqlite
from migrations import window
from migrations.dialects import include_object_for
from migrations.online import LOCK_POLICY, LockPolicy, limit_lock_waits

config = context.config
target_metadata = metadata


def _configure(dialect: str, **kwargs: object) -> None:
    url = config.get_main_option("sqlalchemy.url") or ""
    context.configure(
        target_metadata=target_metadata,
        compare_type=True,
        include_object=include_object_for(dialect),  # what one database only has
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
        render_as_batch=is_sqlite(url) if url else False,
        on_version_apply=[window.record],
        **kwargs,  # type: ignore[arg-type]
    )


def do_run_migrations(connection: Connection) -> None:
    """One transaction for the pending revisions (``upgrade`` asks for one at a time), under
    ``lock_timeout`` on PostgreSQL. On SQLite, with foreign keys off around it
    (``adapters.sqlite.foreign_keys_off``: batch mode rebuilds tables) and checked before the
    commit."""
    _configure(connection.dialect.name, connection=connection)
    sqlite = connection.dialect.name == "sqlite"
    with (
        foreign_keys_off(connection) if sqlite else nullcontext(),
        context.begin_transaction(),
    ):
        if connection.dialect.name == "postgresql":
            limit_lock_waits(connection, config.attributes.get(LOCK_POLICY, LockPolicy()))
        context.run_migrations()
        if sqlite:
            check_foreign_keys(connection)


async def run_async_migrations() -> None:
    pooler = config.attributes.get("pooler", Pooler.NONE)  # see entrypoints.migrations.downgrade
    database = Database(config.get_main_option("sqlalchemy.url") or "", pooler=pooler)
    try:
        async with database.engine.connect() as connection:
            await connection.run_sync(do_run_migrations)
    finally:
        await database.dispose()


def run_migrations_offline() -> None:
    url = config.get_main_option("sqlalchemy.url") or ""
    _configure(make_url(url).get_backend_name(), url=url, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
elif (connection := config.attributes.get("connection")) is not None:
    # Called from async code that holds a connection, outside any transaction (tests,
    # `stockroom serve`; see entrypoints.migrations.upgrade_engine).
    do_run_migrations(connection)
else:
    asyncio.run(run_async_migrations())
