"""SQLite as Stockroom runs it: the zero-setup default, configured for a web server's load.

What ``Database`` takes from here: an engine whose connections use WAL and wait (not fail)
for the write lock, whose units of work ``BEGIN IMMEDIATE`` (those that only read: a plain,
deferred ``BEGIN``), and which can run statements with no transaction at all (``NO_BEGIN``)
for the read port. The writer queue (``sqlite_writer_queue``) and the sync reader
(``sqlite_reader``) sit beside it.

The database file holds password hashes and emails: it is created 0600 before SQLite opens it
(SQLite gives its ``-wal``, ``-shm`` and ``-journal`` files the database file's mode), and one
that others may read is made 0600 if this user owns it, with a warning (``private_file``).
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from adapters.fair_pool import FairAsyncPool
from adapters.pool import PoolSettings
from adapters.sqlite_reader import SqliteReader
from adapters.sqlite_writer_queue import WriterQueue, lock_file_for

log = logging.getLogger(__name__)
# What SQLite writes beside the database: the same data, so the same mode.
_COMPANIONS = ("-wal", "-shm", "-journal")
_OTHERS = stat.S_IRWXG | stat.S_IRWXO

# SQLite's deferred BEGIN takes the write lock only at the first write; if another writer
# committed in between, the upgrade fails at once with "database is locked" and busy_timeout
# cannot help. BEGIN IMMEDIATE takes the lock up front, so writers queue instead of failing.
_BEGIN_OPTION = "stockroom_sqlite_begin"
_DEFAULT_BEGIN = "BEGIN IMMEDIATE"
# Execution options for statements that need no transaction: not even a deferred BEGIN, so a
# read never queues for the write lock.
NO_BEGIN: dict[str, Any] = {_BEGIN_OPTION: None}
# For units that only read: a deferred BEGIN, a consistent snapshot across their statements
# that takes no write lock (sqlite_unit_of_work).
DEFERRED_BEGIN: dict[str, Any] = {_BEGIN_OPTION: "BEGIN"}


def is_sqlite(url: str | URL) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def is_memory(url: URL) -> bool:
    database = url.database or ""
    return (
        database in ("", ":memory:") or ":memory:" in database or url.query.get("mode") == "memory"
    )


def plain_file(url: URL) -> Path | None:
    """The database file, when the URL names one by a plain path (not memory, not a ``file:``
    URI, whose path and options SQLite itself interprets)."""
    database = url.database or ""
    if is_memory(url) or database.startswith("file:") or url.query.get("uri"):
        return None
    return Path(database)


def configure_connection(dbapi_connection: Any, *, busy_timeout_ms: int) -> None:
    """Per connection, for the async engine and the sync reader alike."""
    # Take transaction control away from the sqlite3 module so that our BEGIN is the one.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")  # durable enough under WAL, much faster
    finally:
        cursor.close()


def create_engine(url: URL, pool: PoolSettings, busy_timeout_ms: int, echo: bool) -> AsyncEngine:
    # A file gets the same fixed-size queue pool as a server (each aiosqlite connection is a
    # thread, so churn costs here too); an in-memory database keeps SQLAlchemy's single
    # shared connection, since each new connection would be a new, empty database.
    sizing: dict[str, Any] = {}
    if not is_memory(url):
        sizing = {
            "pool_size": pool.size,
            "max_overflow": pool.max_overflow,
            "pool_timeout": pool.timeout,
            # First come, first served (adapters/fair_pool.py).
            "poolclass": FairAsyncPool,
        }
    engine = create_async_engine(
        url,
        # sqlite3's own timeout is the busy handler for the connection: wait, don't fail.
        connect_args={"timeout": busy_timeout_ms / 1000},
        hide_parameters=True,  # errors never quote bound values (emails, hashes) in the log
        echo=echo,
        **sizing,
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        configure_connection(dbapi_connection, busy_timeout_ms=busy_timeout_ms)

    _keep_private(engine.sync_engine, url)

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        begin = connection.get_execution_options().get(_BEGIN_OPTION, _DEFAULT_BEGIN)
        if begin is not None:
            connection.exec_driver_sql(begin)

    return engine


@contextmanager
def foreign_keys_off(connection: Connection) -> Iterator[None]:
    """Foreign keys off for a schema change, on a connection outside any transaction.

    SQLite changes a table by rebuilding it, and dropping the old table with foreign keys on
    runs the implicit ``DELETE`` with its actions: ``RESTRICT`` refuses, ``CASCADE`` empties
    the child table. The pragma is a no-op inside a transaction, so it is set before the
    migration's transaction begins (``check_foreign_keys`` then verifies the result before it
    commits), and set back on before the connection returns to its pool.
    """
    if connection.in_transaction():
        raise RuntimeError("foreign keys can only be switched outside a transaction")
    begin = connection.get_execution_options().get(_BEGIN_OPTION, _DEFAULT_BEGIN)
    _set_foreign_keys(connection, "OFF", begin)
    try:
        yield
    finally:
        if connection.in_transaction():  # left open by a failure: nothing of it is kept
            connection.rollback()
        _set_foreign_keys(connection, "ON", begin)


def _set_foreign_keys(connection: Connection, state: str, begin: str | None) -> None:
    connection.execution_options(**NO_BEGIN)  # in place: the pragma runs with no BEGIN
    connection.exec_driver_sql(f"PRAGMA foreign_keys={state}")
    connection.commit()  # ends SQLAlchemy's (empty) transaction around it
    connection.execution_options(**{_BEGIN_OPTION: begin})


def check_foreign_keys(connection: Connection) -> None:
    """Inside the migration's transaction: refuse to commit a reference that does not hold."""
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        raise RuntimeError(f"the migration broke foreign keys: {broken[:5]}")


def writer_queue(url: URL, busy_timeout_ms: int) -> WriterQueue:
    """Where units of work of this process wait for their turn to write (every SQLite)."""
    return WriterQueue(busy_timeout_ms / 1000, lock_file_for(plain_file(url)))


def reader(url: URL, pool: PoolSettings, busy_timeout_ms: int) -> SqliteReader | None:
    """The sync reader of a file; none for ":memory:", where a second engine would be another,
    empty database (nor for a ``file:`` URI, which SQLite interprets)."""
    if plain_file(url) is None:
        return None
    sync_reader = SqliteReader(
        url,
        max_threads=pool.size,
        pool_timeout=pool.timeout,
        busy_timeout_ms=busy_timeout_ms,
        configure=lambda connection: configure_connection(
            connection, busy_timeout_ms=busy_timeout_ms
        ),
    )
    _keep_private(sync_reader.engine, url)
    return sync_reader


def _keep_private(engine: Engine, url: URL) -> None:
    """Before each new connection of ``engine`` opens the file (the first one creates it)."""
    path = plain_file(url)
    if path is None:
        return

    @event.listens_for(engine, "do_connect")
    def _before_connect(*_args: Any) -> None:
        private_file(path)


def private_file(path: Path) -> None:
    """Create the database file 0600 if it does not exist; else make it, and what SQLite keeps
    beside it, 0600 where others may read them, with a warning (what to fix is elsewhere: the
    umask, or a copy made with another mode)."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        for each in (path, *(path.with_name(path.name + suffix) for suffix in _COMPANIONS)):
            _tighten(each)
    except OSError:
        pass  # no such folder, no permission: SQLite says so in its own words when it opens it


def _tighten(path: Path) -> None:
    try:
        status = path.stat()
    except FileNotFoundError:
        return
    mode = stat.S_IMODE(status.st_mode)
    if not mode & _OTHERS:
        return
    if status.st_uid != os.geteuid():
        log.warning("%s has mode %04o and belongs to another user: others may read it", path, mode)
        return
    path.chmod(mode & ~_OTHERS)
    log.warning(
        "%s had mode %04o, open to other users: changed to %04o", path, mode, mode & ~_OTHERS
    )
