"""PgBouncer's own limits, read from its admin console, for ``stockroom db check``.

The console is the pooler's virtual database ``pgbouncer``; ``SHOW CONFIG`` answers to the
users named in its ``admin_users`` or ``stats_users``, and only over the simple query
protocol. psycopg sends a statement without parameters that way (asyncpg's ``fetch`` always
uses the extended protocol, which the console refuses). A pooler whose console refuses us
keeps its limits to itself: ``db check`` then says what to compare by hand.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from sqlalchemy.engine import URL

_CONSOLE = "pgbouncer"
_WITHIN_SECONDS = 5  # libpq counts whole seconds


@dataclass(frozen=True)
class PoolerLimits:
    max_client_conn: int  # client connections the pooler accepts in all
    default_pool_size: int  # server connections for each database/user pair


async def read_pooler_limits(url: URL) -> PoolerLimits | str:
    """The limits of the PgBouncer that ``url`` reaches, or why they could not be read."""
    console = url.set(drivername="postgresql", database=_CONSOLE, query={})
    try:
        async with await psycopg.AsyncConnection.connect(
            console.render_as_string(hide_password=False),
            autocommit=True,  # the console knows no BEGIN
            connect_timeout=_WITHIN_SECONDS,
        ) as connection:
            rows = await (await connection.execute("SHOW CONFIG")).fetchall()
    except psycopg.Error as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return f"its admin console answered: {reason}"
    config = {row[0]: row[1] for row in rows}
    return PoolerLimits(int(config["max_client_conn"]), int(config["default_pool_size"]))
