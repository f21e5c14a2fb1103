"""Engine and session factory, each backend configured the way production needs it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session
from sqlalchemy.pool import ConnectionPoolEntry, Pool

from adapters import sqlite_reader, sqlite_writers
from adapters.orm import start_mappers

# SQLite's deferred BEGIN takes the write lock only at the first write; if another writer
# committed in between, the upgrade fails at once with "database is locked" and busy_timeout
# cannot help. BEGIN IMMEDIATE takes the lock up front, so writers queue instead of failing.
SQLITE_BEGIN_OPTION = "stockroom_sqlite_begin"
SQLITE_DEFAULT_BEGIN = "BEGIN IMMEDIATE"


@dataclass(frozen=True)
class PoolSettings:
    """A fixed-size pool per process by default: ``max_overflow=0``.

    SQLAlchemy closes an overflow connection as soon as it comes back to a pool that already
    holds ``size`` idle ones, and opens a new one at the next burst. Under steady load with
    more requests in flight than ``size`` that is a connect (a PostgreSQL backend fork, an
    aiosqlite thread) for a large share of requests: measured here, 450 backends opened in
    12 s and GET /items/{id} at 1,290 req/s with 5 + 10, against 2,930 req/s with a fixed 20
    and 2,720 with a fixed 10 (bench/README.md). Requests beyond ``size`` wait for a
    connection (up to ``timeout``, then 503) instead of opening more: the database does not
    get faster with more connections than it has cores to run them.
    """

    size: int = 10
    max_overflow: int = 0
    timeout: float = 30.0
    recycle: int = 1800


def is_sqlite(url: str | URL) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def build_engine(
    url: str | URL,
    *,
    pool: PoolSettings | None = None,
    sqlite_busy_timeout_ms: int = 5000,
    echo: bool = False,
) -> AsyncEngine:
    start_mappers()
    pool = pool or PoolSettings()
    if is_sqlite(url):
        return _sqlite_engine(url, pool=pool, busy_timeout_ms=sqlite_busy_timeout_ms, echo=echo)
    engine = create_async_engine(
        url,
        pool_size=pool.size,
        max_overflow=pool.max_overflow,
        pool_timeout=pool.timeout,
        pool_recycle=pool.recycle,
        # Not SQLAlchemy's pre-ping: on asyncpg it costs three round trips per checkout
        # (BEGIN, ";", ROLLBACK), more than the query a read makes. See _pre_ping_locally.
        pool_pre_ping=False,
        echo=echo,
    )
    event.listen(engine.sync_engine, "checkout", _pre_ping_locally)
    return engine


def _pre_ping_locally(dbapi_connection: Any, _record: ConnectionPoolEntry, _proxy: Any) -> None:
    """Pre-ping without a round trip: a connection the server closed (restart, idle kill,
    pg_terminate_backend) is already marked closed by asyncpg once the event loop has read
    the server's goodbye, so it is discarded here and the pool hands out a fresh one
    (raising DisconnectionError in "checkout" is SQLAlchemy's documented way to do that).
    A connection that dies silently is caught at first use instead: SQLAlchemy invalidates
    it, and the unit of work reports DatabaseUnavailable (503) for that one request."""
    driver_connection = getattr(dbapi_connection, "driver_connection", None)
    is_closed = getattr(driver_connection, "is_closed", None)
    if is_closed is not None and is_closed():
        raise DisconnectionError("connection closed by the server")


def _is_memory(url: str | URL) -> bool:
    parsed = make_url(url)
    database = parsed.database or ""
    return (
        database in ("", ":memory:")
        or ":memory:" in database
        or (parsed.query.get("mode") == "memory")
    )


def _plain_file(url: str | URL) -> Path | None:
    """The database file, when the URL names one by a plain path (not memory, not a ``file:``
    URI, whose path and options SQLite itself interprets)."""
    parsed = make_url(url)
    database = parsed.database or ""
    if _is_memory(url) or database.startswith("file:") or parsed.query.get("uri"):
        return None
    return Path(database)


def _sqlite_engine(
    url: str | URL, *, pool: PoolSettings, busy_timeout_ms: int, echo: bool
) -> AsyncEngine:
    # A file database gets the same fixed-size queue pool as a server (each aiosqlite
    # connection is a thread, so churn costs here too); an in-memory one keeps SQLAlchemy's
    # single shared connection, since each new connection would be a new, empty database.
    sizing: dict[str, Any] = {}
    if not _is_memory(url):
        sizing = {
            "pool_size": pool.size,
            "max_overflow": pool.max_overflow,
            "pool_timeout": pool.timeout,
        }
    engine = create_async_engine(
        url,
        # sqlite3's own timeout is the busy handler for the connection: wait, don't fail.
        connect_args={"timeout": busy_timeout_ms / 1000},
        echo=echo,
        **sizing,
    )

    def configure(dbapi_connection: Any) -> None:
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

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        configure(dbapi_connection)

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        begin = connection.get_execution_options().get(SQLITE_BEGIN_OPTION, SQLITE_DEFAULT_BEGIN)
        if begin is not None:  # None: statements run in autocommit (the lean read path)
            connection.exec_driver_sql(begin)

    database_file = _plain_file(url)
    sqlite_writers.install(engine, timeout=busy_timeout_ms / 1000, database_file=database_file)
    # Only for a known file: a second engine on ":memory:" would be another, empty database.
    if database_file is not None:
        sqlite_reader.install(
            engine,
            url,
            pool_size=pool.size,
            pool_timeout=pool.timeout,
            busy_timeout_ms=busy_timeout_ms,
            configure=configure,
        )
    return engine


def engines_behind(engine: AsyncEngine) -> list[Engine]:
    """Every engine that sends ``engine``'s statements: its own sync engine, plus its SQLite
    reader (``adapters.sqlite_reader``) if it has one. Events, pools and statistics that should
    see every statement go through these."""
    reader = sqlite_reader.reader_for(engine)
    return [engine.sync_engine] + ([reader.engine] if reader is not None else [])


def connection_pools(engine: AsyncEngine) -> list[Pool]:
    return [behind.pool for behind in engines_behind(engine)]


def checked_out(engine: AsyncEngine) -> int:
    """Connections of ``engine``'s pools in use right now (0 when nothing holds any)."""
    # checkedout() belongs to the queue pools that build_engine configures, not to Pool.
    counts: list[int] = [pool.checkedout() for pool in connection_pools(engine)]  # type: ignore[attr-defined]
    return sum(counts)


def read_only(engine: AsyncEngine) -> AsyncEngine:
    """The same engine and pool, for statements that need no transaction.

    PostgreSQL: AUTOCOMMIT, so a read is one round trip instead of BEGIN, SELECT, ROLLBACK.
    SQLite: no BEGIN at all (not even a deferred one), so reads never queue for the lock.
    """
    if engine.dialect.name == "sqlite":
        return engine.execution_options(**{SQLITE_BEGIN_OPTION: None})
    return engine.execution_options(isolation_level="AUTOCOMMIT")


def build_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # expire_on_commit=False: objects stay readable after commit without a refresh round trip,
    # and nothing tries lazy IO once the unit of work has closed the session.
    # autoflush=False: SQL is sent when the unit of work asks for it, not as a side effect.
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


_COMMITTED = "stockroom.committed"


@event.listens_for(Session, "after_begin")
def _reset_commit_marker(session: Session, _transaction: object, _connection: object) -> None:
    session.info.pop(_COMMITTED, None)


@event.listens_for(Session, "after_commit")
def _mark_committed(session: Session) -> None:
    # Fires once the database has acknowledged COMMIT, before any later after_commit hook.
    session.info[_COMMITTED] = True


def committed_to_database(session: Session) -> bool:
    """Whether the last transaction of ``session`` reached the database as committed."""
    return bool(session.info.get(_COMMITTED))
