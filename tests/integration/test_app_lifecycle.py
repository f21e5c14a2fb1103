"""The app owns its pool for exactly as long as it runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from dependency_injector import providers
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.database import build_engine
from entrypoints.api.app import create_app
from tests.api_support import build_test_container


async def test_shutdown_disposes_the_engine(sqlite_url: str) -> None:
    engine: AsyncEngine = build_engine(sqlite_url)
    container = build_test_container()
    container.engine.override(providers.Object(engine))
    app = create_app(container)

    async with app.router.lifespan_context(app):
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        pool_while_running = engine.pool
        assert pool_while_running.checkedin() == 1  # type: ignore[attr-defined]

    # dispose() closes every pooled connection and swaps in a fresh, empty pool.
    assert engine.pool is not pool_while_running
    assert pool_while_running.checkedin() == 0  # type: ignore[attr-defined]


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
