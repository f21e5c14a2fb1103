"""Alembic, driven from code: the CLI, ``serve``'s first run and the tests all use this."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

import migrations
from adapters.postgres import Pooler

SCRIPT_LOCATION = Path(migrations.__file__).parent


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    # ConfigParser interpolation would choke on a '%' in a URL-encoded password.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision(url: str) -> str | None:
    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()


def upgrade(url: str, revision: str = "head", pooler: Pooler = Pooler.NONE) -> None:
    """Upgrade from synchronous code (the CLI); runs its own event loop. ``pooler``: what sits
    in front of the server, so that migrations too are safe behind a transaction pooler."""
    config = alembic_config(url)
    config.attributes["pooler"] = pooler
    command.upgrade(config, revision)


def downgrade(url: str, revision: str, pooler: Pooler = Pooler.NONE) -> None:
    """Downgrade to ``revision`` (``base``: nothing left); each step's ``downgrade()`` runs."""
    config = alembic_config(url)
    config.attributes["pooler"] = pooler
    command.downgrade(config, revision)


def history(url: str) -> None:
    """Print every revision, newest first, as Alembic does (``stockroom db history``)."""
    command.history(alembic_config(url))


class SchemaNotAtHead(Exception):
    """The database's schema is not the one this code was written for."""

    def __init__(self, current: str | None, head: str | None) -> None:
        super().__init__(
            f"the database schema is at {current or 'nothing'}, the code expects {head}: "
            "run `stockroom db upgrade` first"
        )


async def require_head(engine: AsyncEngine) -> None:
    """``SchemaNotAtHead`` unless the database behind ``engine`` is migrated to the head."""
    current = await current_revision(engine)
    head = head_revision(engine.url.render_as_string(hide_password=False))
    if current != head:
        raise SchemaNotAtHead(current, head)


async def upgrade_engine(engine: AsyncEngine, revision: str = "head") -> None:
    """Upgrade from async code, on a connection of ``engine``. The connection is handed over
    outside a transaction: the environment begins (and commits) it, after turning SQLite's
    foreign keys off, which only works between transactions (``migrations/env.py``)."""
    url = engine.url.render_as_string(hide_password=False)

    def run(connection: Connection) -> None:
        config = alembic_config(url)
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    async with engine.connect() as connection:
        await connection.run_sync(run)


async def current_revision(engine: AsyncEngine) -> str | None:
    def read(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with engine.connect() as connection:
        return await connection.run_sync(read)
