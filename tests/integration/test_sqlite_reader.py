"""The read port on a SQLite file runs on the database's sync reader, in one thread hop.

What it must keep from the async engine: the same database and its latest committed rows,
the same connection settings, connections back in the pool after every read, and a clean
end when the database is disposed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import event, text

from adapters.database import Database
from adapters.sqlite_reader import SqliteReader
from domain.item import Item
from tests.integration.units import reads_of, unit_of_work


@pytest.fixture
async def database(sqlite_database: Database, sqlite_url: str) -> AsyncIterator[Database]:
    """The run's migrated SQLite file, on a database object of this test's own."""
    database = Database(sqlite_url)
    yield database
    await database.dispose()


def _reader(database: Database) -> SqliteReader:
    assert database.sqlite_reader is not None, "a SQLite file has a reader"
    return database.sqlite_reader


async def _pragma(reader: SqliteReader, name: str) -> object:
    (row,) = await reader.fetch_all(text(f"PRAGMA {name}"), {})
    return next(iter(row.values()))


async def test_reads_see_committed_rows_through_the_reader_not_the_async_pool(
    database: Database,
) -> None:
    reader = _reader(database)
    used = {"async": 0, "reader": 0}
    event.listen(database.engine.sync_engine.pool, "checkout", lambda *_: used.update({"async": 1}))
    event.listen(reader.engine.pool, "checkout", lambda *_: used.update({"reader": 1}))
    reads = reads_of(database)
    assert await reads.item(1) is None

    async with unit_of_work(database) as uow:
        await uow.items.add(Item(sku="READ-1", title="Read me", price=Decimal("2.50"), quantity=3))
        await uow.commit()
    used.clear()
    found = await reads.items()

    assert [(view.sku, view.price, view.quantity) for view in found] == [
        ("READ-1", Decimal("2.50"), 3)
    ]
    assert used == {"reader": 1}
    assert database.checked_out() == 0


async def test_reader_connections_are_configured_like_the_engines(database: Database) -> None:
    reader = _reader(database)
    # Per-connection settings (journal_mode is the file's, busy_timeout also comes from the
    # driver's own timeout): these two are there only if the connect hook ran.
    assert await _pragma(reader, "foreign_keys") == 1
    assert await _pragma(reader, "synchronous") == 1  # NORMAL
    async with database.engine.connect() as connection:
        assert (await connection.execute(text("PRAGMA synchronous"))).scalar() == 1
    assert await _pragma(reader, "journal_mode") == "wal"


async def test_disposing_the_database_disposes_its_reader_which_starts_afresh_if_used_again(
    database: Database,
) -> None:
    reader = _reader(database)
    assert await _pragma(reader, "foreign_keys") == 1
    assert reader.engine.pool.checkedin() == 1  # type: ignore[attr-defined]
    await database.dispose()
    assert reader.engine.pool.checkedin() == 0  # type: ignore[attr-defined]
    # Like a disposed engine, it makes new connections (and threads) when used again.
    assert await reads_of(database).item(10**9) is None
    assert reader.engine.pool.checkedin() == 1  # type: ignore[attr-defined]


async def test_an_in_memory_database_has_no_reader() -> None:
    """A second engine on ":memory:" would open another, empty database."""
    database = Database("sqlite+aiosqlite:///:memory:")
    try:
        assert database.sqlite_reader is None
    finally:
        await database.dispose()


async def test_a_file_uri_gets_no_reader_and_its_units_still_work(tmp_path: Path) -> None:
    """A ``file:`` URI is SQLite's to interpret (it may even name a memory database), so no
    second engine and no lock file are derived from it."""
    database = Database(f"sqlite+aiosqlite:///file:{tmp_path / 'uri.db'}?uri=true")
    try:
        assert database.sqlite_reader is None
        async with unit_of_work(database) as uow:
            await uow.session.execute(text("CREATE TABLE t (x INTEGER)"))
            await uow.commit()
        assert not list(tmp_path.glob("*writer.lock"))  # noqa: ASYNC240 - one listing, in a test
    finally:
        await database.dispose()
