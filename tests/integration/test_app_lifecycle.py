"""The app owns its pool for exactly as long as it runs."""

from __future__ import annotations

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
