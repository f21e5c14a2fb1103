"""The app owns its pool for exactly as long as it runs."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from dependency_injector import providers
from sqlalchemy import text

from adapters.database import Database
from entrypoints.api.app import create_app
from tests.api_support import build_test_container
from tests.integration.databases import open_database


async def test_shutdown_disposes_the_database(sqlite_database: Database) -> None:
    # A database of the app's own on the migrated file: the run's shared one stays open.
    async with open_database(sqlite_database.url.render_as_string(False)) as database:
        # The background rounds that use the database are off, so the counts below are this
        # test's own: the event dispatcher's first query, at start-up, would race the one here
        # for the units' pool (the next test runs them).
        container = build_test_container(events_dispatch_seconds=0, purge_interval_seconds=0)
        container.database.override(providers.Object(database))
        reads = container.reads()
        app = create_app(container)

        async with app.router.lifespan_context(app):
            # One connection of the units' engine, one of the SQLite reader's, both back home.
            async with database.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
            assert await reads.item(424242) is None
            pools_while_running = database.pools()
            assert len(pools_while_running) == 2
            assert [pool.checkedin() for pool in pools_while_running] == [1, 1]

        # dispose() closes every pooled connection and swaps in fresh, empty pools.
        assert all(
            new is not old for new, old in zip(database.pools(), pools_while_running, strict=True)
        )
        assert [pool.checkedin() for pool in pools_while_running] == [0, 0]


async def test_shutdown_stops_the_background_rounds_before_it_disposes(
    sqlite_database: Database,
) -> None:
    """The event dispatcher and the purge run while the app does and are stopped before the
    pools close: a round still in flight at dispose() would hold a connection past the end."""
    async with open_database(sqlite_database.url.render_as_string(False)) as database:
        container = build_test_container(
            events_dispatch_seconds=0.001, purge_interval_seconds=0.001
        )
        container.database.override(providers.Object(database))
        app = create_app(container)

        async with app.router.lifespan_context(app):
            # Long enough for many rounds of both (each opens a unit of work on the pool).
            await asyncio.sleep(0.2)
            pools_while_running = database.pools()
            units_pool = pools_while_running[0]
            assert units_pool.checkedin() + units_pool.checkedout() >= 1  # the rounds use it

        assert [pool.checkedout() for pool in pools_while_running] == [0, 0]
        assert [pool.checkedin() for pool in pools_while_running] == [0, 0]
        # Nothing of the app's is left running, and nothing opens the database again.
        assert asyncio.all_tasks() == {asyncio.current_task()}
        await asyncio.sleep(0.05)
        assert [(pool.checkedin(), pool.checkedout()) for pool in database.pools()] == [
            (0, 0),
            (0, 0),
        ]


def test_the_worker_app_freezes_what_it_was_built_with(tmp_path: Path) -> None:
    """uvicorn's factory (``stockroom serve``) moves everything built at start-up out of the
    cyclic collector's sight, so a full collection in a request does not walk it all again.
    Run in a child process: freezing is for the process's whole life."""
    script = (
        "import gc\n"
        "from entrypoints.api.app import create_app_from_env\n"
        "before = gc.get_freeze_count()\n"
        "create_app_from_env()\n"
        "print(before, gc.get_freeze_count())\n"
    )
    env = {
        **os.environ,
        "STOCKROOM_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'worker.db'}",
        "STOCKROOM_SECRET_KEY": "k" * 40,
    }
    result = subprocess.run(  # noqa: S603 - this interpreter, our own script
        [sys.executable, "-c", script],
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    before, after = (int(number) for number in result.stdout.split())
    assert before == 0
    assert after > 10_000  # modules, app, routes, schemas: tens of thousands of objects
