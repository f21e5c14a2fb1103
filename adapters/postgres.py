"""PostgreSQL as Stockroom runs it: asyncpg, a fixed pool, and a checkout check that costs no
round trip."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry


def create_engine(
    url: URL,
    *,
    pool_size: int,
    max_overflow: int,
    pool_timeout: float,
    pool_recycle: int,
    echo: bool,
) -> AsyncEngine:
    engine = create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=pool_timeout,
        pool_recycle=pool_recycle,
        # Not SQLAlchemy's pre-ping: on asyncpg it costs three round trips per checkout
        # (BEGIN, ";", ROLLBACK), more than a read's own query. See drop_if_closed.
        pool_pre_ping=False,
        echo=echo,
    )
    event.listen(engine.sync_engine, "checkout", drop_if_closed)
    return engine


def drop_if_closed(dbapi_connection: Any, _record: ConnectionPoolEntry, _proxy: Any) -> None:
    """Pre-ping without a round trip: a connection the server closed (restart, idle kill,
    pg_terminate_backend) is already marked closed by asyncpg once the event loop has read the
    server's goodbye, so it is discarded here and the pool hands out a fresh one (raising
    DisconnectionError in "checkout" is SQLAlchemy's documented way to do that). A connection
    that dies silently is caught at first use instead: SQLAlchemy invalidates it, and the unit
    of work reports DatabaseUnavailable (503) for that one request."""
    driver_connection = getattr(dbapi_connection, "driver_connection", None)
    is_closed = getattr(driver_connection, "is_closed", None)
    if is_closed is not None and is_closed():
        raise DisconnectionError("connection closed by the server")
