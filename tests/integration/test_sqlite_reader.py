"""The lean read path on a SQLite file runs on the engine's sync reader, in one thread hop.

What it must keep from the async engine: the same database and its latest committed rows,
the same connection settings, connections back in the pool after every read, and a clean
end when the engine is disposed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.database import build_engine, build_session_factory
from adapters.sqlite_reader import reader_for
from domain.item import Item
from service_layer.sqlalchemy_read_views import SqlAlchemyReadViews
from service_layer.sqlalchemy_unit_of_work import SqlAlchemyUnitOfWork


@pytest.fixture
async def engine(sqlite_engine: AsyncEngine, sqlite_url: str) -> AsyncIterator[AsyncEngine]:
    """The run's migrated SQLite file, on an engine of this test's own."""
    engine = build_engine(sqlite_url)
    yield engine
    await engine.dispose()


async def test_views_read_committed_rows_through_the_reader_not_the_async_pool(
    engine: AsyncEngine,
) -> None:
    reader = reader_for(engine)
    assert reader is not None
    used = {"async": 0, "reader": 0}
    event.listen(engine.sync_engine.pool, "checkout", lambda *_: used.__setitem__("async", 1))
    event.listen(reader.engine.pool, "checkout", lambda *_: used.__setitem__("reader", 1))
    views = SqlAlchemyReadViews(engine)
    assert await views.item(1) is None

    async with SqlAlchemyUnitOfWork(build_session_factory(engine)) as uow:
        await uow.items.add(Item(sku="READ-1", title="Read me", price=Decimal("2.50"), quantity=3))
        await uow.commit()
    used.update({"async": 0, "reader": 0})
    found = await views.items()

    assert [(view.sku, view.price, view.quantity) for view in found] == [
        ("READ-1", Decimal("2.50"), 3)
    ]
    assert used == {"async": 0, "reader": 1}
    assert reader.engine.pool.checkedout() == 0  # type: ignore[attr-defined]


def _pragma(engine: Engine, name: str) -> object:
    with engine.connect() as connection:
        return connection.exec_driver_sql(f"PRAGMA {name}").scalar()


async def test_reader_connections_are_configured_like_the_engines(engine: AsyncEngine) -> None:
    reader = reader_for(engine)
    assert reader is not None
    # Per-connection settings (journal_mode is the file's, busy_timeout also comes from the
    # driver's own timeout): these two are there only if the connect hook ran.
    assert await reader.run(lambda sync: _pragma(sync, "foreign_keys")) == 1
    assert await reader.run(lambda sync: _pragma(sync, "synchronous")) == 1  # NORMAL
    async with engine.connect() as connection:
        assert (await connection.execute(text("PRAGMA synchronous"))).scalar() == 1
    assert await reader.run(lambda sync: _pragma(sync, "journal_mode")) == "wal"


async def test_disposing_the_engine_disposes_its_reader_which_starts_afresh_if_used_again(
    sqlite_url: str,
) -> None:
    engine = build_engine(sqlite_url)
    reader = reader_for(engine)
    assert reader is not None
    try:
        assert await reader.run(lambda sync: _pragma(sync, "foreign_keys")) == 1
        assert reader.engine.pool.checkedin() == 1  # type: ignore[attr-defined]
        await engine.dispose()
        assert reader.engine.pool.checkedin() == 0  # type: ignore[attr-defined]
        # Like a disposed engine, it makes new connections (and threads) when used again.
        assert await SqlAlchemyReadViews(engine).item(10**9) is None
        assert reader.engine.pool.checkedin() == 1  # type: ignore[attr-defined]
    finally:
        await engine.dispose()


async def test_an_in_memory_database_has_no_reader() -> None:
    """A second engine on ":memory:" would open another, empty database."""
    engine = build_engine("sqlite+aiosqlite:///:memory:")
    try:
        assert reader_for(engine) is None
    finally:
        await engine.dispose()


async def test_a_file_uri_gets_no_reader_and_its_units_still_work(tmp_path: Path) -> None:
    """A ``file:`` URI is SQLite's to interpret (it may even name a memory database), so no
    second engine and no lock file are derived from it."""
    engine = build_engine(f"sqlite+aiosqlite:///file:{tmp_path / 'uri.db'}?uri=true")
    try:
        assert reader_for(engine) is None
        async with SqlAlchemyUnitOfWork(build_session_factory(engine)) as uow:
            await uow.session.execute(text("CREATE TABLE t (x INTEGER)"))
            await uow.commit()
        assert not list(tmp_path.glob("*writer.lock"))  # noqa: ASYNC240 - one listing, in a test
    finally:
        await engine.dispose()
