"""PostgreSQL as Stockroom runs it: a fixed pool, a checkout check that costs no round trip,
and a driver chosen for what sits between us and the server.

- Direct, or behind a pooler in session mode (``Pooler.NONE``, ``Pooler.SESSION``): asyncpg
  with its prepared-statement caches, the fastest way to run the same statements again.
- Behind a pooler in transaction mode (``Pooler.TRANSACTION``, PgBouncer's common setting):
  consecutive transactions, and even the two halves of one statement outside a transaction,
  may run on different server connections, so no server-side prepared statement may outlive
  the message that created it. psycopg 3 with server-side prepares off sends each statement
  as one Parse/Bind/Execute/Sync exchange, which a pooler cannot split. asyncpg, even with
  unique statement names and its caches off, prepares and executes in two exchanges and
  needs a transaction around every read to stay correct; measured behind PgBouncer it was
  the slower of the two (docs/session-lifecycle.md).
"""

from __future__ import annotations

import contextlib
import math
import socket
from enum import StrEnum
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from adapters.fair_pool import FairAsyncPool
from adapters.pool import PoolSettings


class Pooler(StrEnum):
    """What sits between Stockroom and PostgreSQL (``STOCKROOM_DATABASE_POOLER``)."""

    NONE = "none"
    SESSION = "session"  # a server connection per client connection: like direct
    TRANSACTION = "transaction"  # a server connection per transaction only


def create_engine(
    url: URL, pool: PoolSettings, pooler: Pooler, echo: bool, *, deadline: float | None = None
) -> AsyncEngine:
    """``deadline``: the seconds a connect or a statement may take, held by the driver and, where
    it can be set, the server (a replica's engine: adapters/replicas.py, which also ends a
    connection whose statement outlives it, see ``abandon``)."""
    connect_args: dict[str, Any] = {}
    if pooler is Pooler.TRANSACTION:
        url = url.set(drivername="postgresql+psycopg")
        connect_args["prepare_threshold"] = None  # never prepare on the server
    if deadline is not None:
        connect_args |= _deadline_args(pooler, deadline)
    engine = create_async_engine(
        url,
        pool_size=pool.size,
        max_overflow=pool.max_overflow,
        pool_timeout=pool.timeout,
        pool_recycle=pool.recycle,
        # Not SQLAlchemy's pre-ping: on asyncpg it costs three round trips per checkout
        # (BEGIN, ";", ROLLBACK), more than a read's own query. See drop_if_closed.
        pool_pre_ping=False,
        connect_args=connect_args,
        # A queue pool that serves waiting requests in arrival order (adapters/fair_pool.py:
        # SQLAlchemy's lets a newcomer take a connection a waiter was woken for, which under
        # load multiplied the p99), and counts them for the metrics at no cost per request.
        poolclass=FairAsyncPool,
        # Errors never quote bound values: a traceback in the log would show emails, hashes.
        hide_parameters=True,
        echo=echo,
    )
    event.listen(engine.sync_engine, "checkout", drop_if_closed)
    return engine


def _deadline_args(pooler: Pooler, seconds: float) -> dict[str, Any]:
    """The driver's limits, and the server's ``statement_timeout``, which stops the work of a
    statement nobody waits for any more, where the server is reached directly (a pooler refuses
    startup settings: behind one, its own ``query_timeout`` is that limit)."""
    if pooler is Pooler.TRANSACTION:  # psycopg: libpq counts whole seconds, 2 at least
        return {"connect_timeout": max(2, math.ceil(seconds))}
    # asyncpg: ``command_timeout`` also bounds the cancel request it sends on a timeout, and
    # the statements the dialect runs on a new connection.
    limits: dict[str, Any] = {"timeout": seconds, "command_timeout": seconds}
    if pooler is Pooler.NONE:
        limits["server_settings"] = {"statement_timeout": f"{round(seconds * 1000)}"}
    return limits


def abandon(driver_connection: Any) -> None:
    """End a driver's connection at once, sending nothing and waiting for nothing: a statement
    waiting on it fails at once, even when the server never answers (SIGSTOP, a dead host
    whose kernel still acknowledges)."""
    if hasattr(driver_connection, "terminate"):  # asyncpg: its transport, its cancel requests
        if not driver_connection.is_closed():
            driver_connection.terminate()
    elif not driver_connection.closed:  # psycopg: libpq then reads the end of its socket
        # Shut down, not closed: libpq still owns the descriptor. A shutdown is the same for
        # any address family, so AF_INET here serves a Unix socket too.
        fd = driver_connection.pgconn.socket
        with (
            contextlib.suppress(OSError),
            socket.fromfd(fd, socket.AF_INET, socket.SOCK_STREAM) as s,
        ):
            s.shutdown(socket.SHUT_RDWR)


def drop_if_closed(dbapi_connection: Any, _record: ConnectionPoolEntry, _proxy: Any) -> None:
    """Pre-ping without a round trip: a connection the server closed (restart, idle kill,
    pg_terminate_backend) is already marked closed by asyncpg once the event loop has read the
    server's goodbye, so it is discarded here and the pool hands out a fresh one (raising
    DisconnectionError in "checkout" is SQLAlchemy's documented way to do that). psycopg
    notices only at the next use; there, as for a connection that dies silently, SQLAlchemy
    invalidates it at first use and the unit of work reports DatabaseUnavailable (503) for
    that one request."""
    driver_connection = getattr(dbapi_connection, "driver_connection", None)
    is_closed = getattr(driver_connection, "is_closed", None)  # asyncpg
    closed = is_closed() if is_closed is not None else getattr(driver_connection, "closed", False)
    if closed:
        raise DisconnectionError("connection closed by the server")
