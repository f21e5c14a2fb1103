"""What a PostgreSQL server says about itself, and what sits between it and us: the facts
``stockroom db check`` judges a deployment by. Read-only; nothing here changes a setting.

**A pooler in front.** At start-up a client is given a process id and a secret
(BackendKeyData), which it needs to cancel a query. PostgreSQL sends the id of the backend
that serves the connection; a pooler (PgBouncer, pgcat, Odyssey) sends a key of its own,
because cancel requests must come to the pooler, which alone knows where the query runs. So
the id the driver was given differs from ``pg_backend_pid()`` exactly when a pooler is in
between. Comparing ports instead would be fooled by a Docker or Kubernetes port mapping (and
by a pooler on the server's own port); the ports are still reported, as a clue.

**Transaction pooling.** Two of our connections, both open, served one after the other by the
same server backend: only a pooler that lends server connections per transaction can do
that, since session pooling pins one to each client. PgBouncer lends the server connection
released last (LIFO) by default, so the second gets the first one's at once on a quiet
pooler; under other clients' traffic it may not, so "not seen" proves nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.database import Database
from adapters.database_errors import classify

_SETTINGS = text(
    "SELECT current_setting('server_version') AS version,"
    " current_setting('max_connections')::int AS max_connections,"
    # reserved_connections (for pg_use_reserved_connections) exists from PostgreSQL 16 on.
    " current_setting('superuser_reserved_connections')::int"
    "   + coalesce(current_setting('reserved_connections', true)::int, 0) AS reserved,"
    " current_setting('port')::int AS port,"
    " pg_backend_pid() AS backend_pid,"
    " pg_is_in_recovery() AS in_recovery"
)
_BACKEND_PID = text("SELECT pg_backend_pid()")
# Tries at catching two of our connections on one backend; each costs two short round trips.
_SHARING_ATTEMPTS = 3


@dataclass(frozen=True)
class ServerFacts:
    version: str
    max_connections: int
    reserved_connections: int  # for superusers (and, from 16 on, pg_use_reserved_connections)
    port: int  # the port the server itself listens on
    pooler_in_front: bool
    transaction_pooling_seen: bool
    # A standby (a streaming replica, or a server restoring from archive): it refuses every
    # write, so it can never be the database Stockroom runs on.
    in_recovery: bool = False

    @property
    def available_connections(self) -> int:
        """What ordinary roles may open in all: the ceiling for a direct connection budget."""
        return self.max_connections - self.reserved_connections


async def gather(database: Database) -> ServerFacts:
    """Ask the server behind ``database`` (PostgreSQL) for its facts, on two connections.
    Driver errors come out classified as the unit of work's do (``database_errors``)."""
    # Autocommit: each statement ends its transaction, so a transaction pooler may move each
    # connection to another server connection between statements (what the probe looks for).
    engine = database.engine.execution_options(isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as first, engine.connect() as second:
            given_pid = await _pid_given_at_start_up(first)
            row = (await first.execute(_SETTINGS)).mappings().one()
            sharing = await _share_a_backend(first, second)
    except Exception as error:
        classified = classify(error)
        if classified is None:
            raise
        raise classified from error
    return ServerFacts(
        version=row["version"],
        max_connections=row["max_connections"],
        reserved_connections=row["reserved"],
        port=row["port"],
        pooler_in_front=given_pid != row["backend_pid"],
        transaction_pooling_seen=sharing,
        in_recovery=row["in_recovery"],
    )


async def _pid_given_at_start_up(connection: AsyncConnection) -> int:
    driver: Any = (await connection.get_raw_connection()).driver_connection
    info = getattr(driver, "info", None)  # psycopg 3: ConnectionInfo.backend_pid
    return int(info.backend_pid if info is not None else driver.get_server_pid())  # or asyncpg


async def _share_a_backend(first: AsyncConnection, second: AsyncConnection) -> bool:
    for _ in range(_SHARING_ATTEMPTS):
        if await first.scalar(_BACKEND_PID) == await second.scalar(_BACKEND_PID):
            return True
    return False
