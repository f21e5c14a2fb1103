"""Alembic, driven from code: the CLI, ``serve``'s first run and the tests all use this.

``upgrade`` applies one migration at a time, each in a transaction of its own, under
``lock_timeout`` on PostgreSQL (``migrations/online.py``). A migration that could not get a
lock in time is rolled back and tried again after a pause; after ``LockPolicy.attempts``
tries, ``MigrationLockTimeout``. The migrations applied before it stay applied: running
``upgrade`` again goes on from there.

Code serves the schema at its head, or a newer one inside the compatible window the newer
migrations declared (``migrations/window.py``); never one behind its head.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.script.revision import RevisionError
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

import migrations
from adapters.database import Database
from adapters.postgres import Pooler
from migrations import window
from migrations.online import LOCK_POLICY, LockPolicy
from migrations.window import Fit, SchemaVersion

SCRIPT_LOCATION = Path(migrations.__file__).parent
LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL's SQLSTATE for a lock_timeout

Progress = Callable[[str], None]


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    # ConfigParser interpolation would choke on a '%' in a URL-encoded password.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _scripts(url: str) -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config(url))


def head_revision(url: str) -> str | None:
    return _scripts(url).get_current_head()


def fit(schema: SchemaVersion, url: str) -> Fit:
    """How the schema fits this code: its head, and every revision it knows."""
    known = {script.revision for script in _scripts(url).walk_revisions()}
    return window.fit(schema, head_revision(url), known)


def upgrade(
    url: str,
    revision: str = "head",
    pooler: Pooler = Pooler.NONE,
    locks: LockPolicy | None = None,
    progress: Progress | None = None,
) -> SchemaVersion:
    """Upgrade from synchronous code (the CLI); runs its own event loop. ``pooler``: what sits
    in front of the server, so that migrations too are safe behind a transaction pooler."""

    async def run() -> SchemaVersion:
        database = Database(url, pooler=pooler)
        try:
            return await upgrade_engine(database.engine, revision, locks, progress)
        finally:
            await database.dispose()

    return asyncio.run(run())


def downgrade(url: str, revision: str, pooler: Pooler = Pooler.NONE) -> None:
    """Downgrade to ``revision`` (``base``: nothing left); each step's ``downgrade()`` runs, all
    in one transaction under the default lock timeout, without retries."""
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


class SchemaOutsideWindow(SchemaNotAtHead):
    """The database's schema is newer than this code, outside the window it may serve."""

    def __init__(self, schema: SchemaVersion, head: str | None) -> None:
        Exception.__init__(self, window.outside_window(schema, head))


class MigrationLockTimeout(Exception):
    """A migration waited for a lock on each of its tries, and ``upgrade`` gave up."""

    def __init__(self, revision: str, statement: str | None, locks: LockPolicy) -> None:
        tries = "1 try" if locks.attempts == 1 else f"{locks.attempts} tries"
        waited = " ".join((statement or "a statement").split())  # one line
        super().__init__(
            f"migration {revision} gave up after {tries}, each waiting {locks.timeout:g} s "
            f"for a lock (lock_timeout): `{waited}`; a long transaction holds that table: "
            "end it, or run `stockroom db upgrade` again once it is over"
        )


async def require_head(engine: AsyncEngine) -> None:
    """``SchemaNotAtHead`` unless the database behind ``engine`` is migrated to the head, or
    beyond it inside the window this code may serve (``SchemaOutsideWindow`` if outside)."""
    schema = await schema_version(engine)
    url = engine.url.render_as_string(hide_password=False)
    found = fit(schema, url)
    if found is Fit.BEHIND:
        raise SchemaNotAtHead(schema.revision, head_revision(url))
    if found is Fit.NEWER:
        raise SchemaOutsideWindow(schema, head_revision(url))


async def upgrade_engine(
    engine: AsyncEngine,
    revision: str = "head",
    locks: LockPolicy | None = None,
    progress: Progress | None = None,
) -> SchemaVersion:
    """Upgrade from async code, on connections of ``engine``; returns where the schema is.

    A schema beyond this code's head is left alone when it is inside the window (an earlier
    release's ``upgrade`` during a rollback: nothing to do), refused when it is outside."""
    url = engine.url.render_as_string(hide_password=False)
    schema = await schema_version(engine)
    found = fit(schema, url)
    if revision == "head" and found is Fit.IN_WINDOW:
        if progress is not None:
            progress(f"{window.in_window(schema, head_revision(url))}: nothing to do")
        return schema
    if revision == "head" and found is Fit.NEWER:
        raise SchemaOutsideWindow(schema, head_revision(url))
    for step in _one_by_one(url, schema.revision, revision):
        await _apply_with_retries(engine, url, step, locks or LockPolicy(), progress)
    return await schema_version(engine)


def _one_by_one(url: str, current: str | None, target: str) -> list[str]:
    """The revisions after ``current`` up to ``target``, oldest first; just ``target`` when
    Alembic cannot walk there (an unknown revision, a target behind the schema), so that
    Alembic's own upgrade says why."""
    try:
        walked = _scripts(url).iterate_revisions(target, current or "base")
        steps = [script.revision for script in walked]
    except RevisionError:
        return [target]
    return list(reversed(steps)) or [target]


async def _apply_with_retries(
    engine: AsyncEngine, url: str, revision: str, locks: LockPolicy, progress: Progress | None
) -> None:
    for attempt in range(1, locks.attempts + 1):
        try:
            await _apply(engine, url, revision, locks)
            return
        except DBAPIError as error:
            if getattr(error.orig, "sqlstate", None) != LOCK_NOT_AVAILABLE:
                raise
            if attempt == locks.attempts:
                raise MigrationLockTimeout(revision, error.statement, locks) from error
            pause = locks.pause_after(attempt)
            if progress is not None:
                progress(
                    f"{revision}: waited {locks.timeout:g} s for a lock, trying again in "
                    f"{pause:g} s ({attempt + 1} of {locks.attempts})"
                )
            await asyncio.sleep(pause)


async def _apply(engine: AsyncEngine, url: str, revision: str, locks: LockPolicy) -> None:
    """Upgrade to ``revision`` on a connection handed over outside a transaction: the
    environment begins (and commits) it, after turning SQLite's foreign keys off, which only
    works between transactions (``migrations/env.py``)."""

    def run(connection: Connection) -> None:
        config = alembic_config(url)
        config.attributes["connection"] = connection
        config.attributes[LOCK_POLICY] = locks
        command.upgrade(config, revision)

    async with engine.connect() as connection:
        await connection.run_sync(run)


async def schema_version(engine: AsyncEngine) -> SchemaVersion:
    """Where the schema is, and the oldest code that may serve it."""
    async with engine.connect() as connection:
        return await connection.run_sync(window.read)


async def current_revision(engine: AsyncEngine) -> str | None:
    def read(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with engine.connect() as connection:
        return await connection.run_sync(read)
