"""The app owns its pool for exactly as long as it runs."""

from __future__ import annotations

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
        container = build_test_container()
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
