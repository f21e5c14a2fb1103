"""What the fault-injection tests share: containers on a test's own database, a client that reports
500s instead of raising them, session classes to hang hooks on, and raw-SQL probes.

Every probe reads the database with plain SQL on a connection of its own, so a test never
trusts the code under test to report what it did.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aiosqlite
import asyncpg
import httpx
from dependency_injector import providers
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.pool import NullPool
from starlette.types import Message

from adapters.database import Database
from adapters.sqlite_unit_of_work import reading_session_factory
from adapters.unit_of_work import UnitSession, session_factory
from entrypoints.container import Container
from tests.api_support import assert_no_secrets, build_test_container

# Long enough to absorb a loaded machine, short enough that a hang fails the test instead of
# the run: every request a fault test sends is awaited under this bound.
NO_HANG_SECONDS = 60.0
T = TypeVar("T")


async def bounded(awaitable: Awaitable[T]) -> T:
    """``awaitable``'s result; a hang becomes a ``TimeoutError`` after ``NO_HANG_SECONDS``."""
    return await asyncio.wait_for(awaitable, NO_HANG_SECONDS)


def container_on(database: Database, session_class: type[UnitSession] | None = None) -> Container:
    """The real test container on ``database``; with ``session_class``, every unit of work's
    session is one of those (the production session options are kept as they are)."""
    container = build_test_container()
    container.database.override(providers.Object(database))
    if session_class is not None:
        sessions = session_factory(database.engine, session_class)
        reading = reading_session_factory(database.engine, session_class)
        container.sessions.override(providers.Object(sessions))
        container.reading_sessions.override(providers.Object(reading))
    return container


def hookable_session_class() -> type[UnitSession]:
    """A fresh subclass of the units' session class: listeners put on it reach only the
    sessions it makes."""
    return type("HookedSession", (UnitSession,), {})


def reporting_client(app: FastAPI) -> httpx.AsyncClient:
    """Like ``tests.api_support.api_client``, but an unhandled error comes back as the 500 a
    real server would send instead of being raised into the test."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
        base_url="http://test",
        event_hooks={"response": [assert_no_secrets]},
    )


@asynccontextmanager
async def outside_connection(database: Database) -> AsyncIterator[AsyncConnection]:
    """A new connection to the database that no pool ever saw: it shows what is committed,
    and cannot be a pooled connection that a failure left inside a transaction."""
    url = database.engine.url  # the driver the database uses: behind a transaction-mode
    # pooler, psycopg with nothing prepared on the server (see adapters/postgres.py)
    no_prepares = {"prepare_threshold": None} if url.drivername == "postgresql+psycopg" else {}
    outsider = create_async_engine(url, poolclass=NullPool, connect_args=no_prepares)
    try:
        async with outsider.connect() as connection:
            yield connection
    finally:
        await outsider.dispose()


async def scalar(database: Database, sql: str) -> int:
    """A committed number, read from outside the pool under test."""
    async with outside_connection(database) as connection:
        return int((await connection.execute(text(sql))).scalar_one())


async def stock(database: Database) -> dict[str, int]:
    """Committed stock by SKU, read from outside the pool under test."""
    async with outside_connection(database) as connection:
        rows = await connection.execute(text("SELECT sku, quantity FROM items"))
        return {row.sku: row.quantity for row in rows}


async def assert_nothing_holds_the_database(database: Database) -> None:
    """No connection is checked out, and none sits in a transaction inside the pool either:
    on PostgreSQL no session of the test database is ``idle in transaction``; on SQLite a
    newcomer can take the write lock at once."""
    # (helpers are not assert-rewritten: each assert carries its own message)
    leaked = database.checked_out()
    assert leaked == 0, f"{leaked} connection(s) still checked out"
    if database.dialect == "postgresql":
        stuck = await backends_in_transaction(database.url.render_as_string(False))
        assert stuck == [], f"sessions left inside a transaction (pid, state, last query): {stuck}"
        return
    path = database.url.database
    assert path is not None
    async with aiosqlite.connect(path, timeout=0.5, isolation_level=None) as newcomer:
        try:
            await newcomer.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as error:
            raise AssertionError(
                f"a connection still holds the SQLite write lock: {error}"
            ) from None
        await newcomer.execute("ROLLBACK")


def asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def backends_in_transaction(url: str) -> list[tuple[int, str, str]]:
    """(pid, state, query) of every session of the test database that sits in a transaction
    without running anything: ``idle in transaction`` and its ``(aborted)`` variant."""
    database = make_url(url).database
    connection = await asyncpg.connect(asyncpg_dsn(url), timeout=10)
    try:
        rows = await connection.fetch(
            "SELECT pid, state, query FROM pg_stat_activity "
            "WHERE datname = $1 AND pid <> pg_backend_pid() "
            "AND state LIKE 'idle in transaction%'",
            database,
        )
    finally:
        await connection.close()
    return [(row["pid"], row["state"], row["query"]) for row in rows]


async def backend_exists(url: str, pid: int) -> bool:
    connection = await asyncpg.connect(asyncpg_dsn(url), timeout=10)
    try:
        found = await connection.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE pid = $1", pid
        )
    finally:
        await connection.close()
    return bool(found)


@dataclass
class Exchange:
    """Everything an app sent for one request, and what it raised (if anything)."""

    messages: list[Message] = field(default_factory=list)
    error: BaseException | None = None

    @property
    def status(self) -> int:
        return int(self.messages[0]["status"])

    @property
    def headers(self) -> dict[str, str]:
        return {
            name.decode("latin-1").lower(): value.decode("latin-1")
            for name, value in self.messages[0]["headers"]
        }

    @property
    def body(self) -> bytes:
        return b"".join(
            m.get("body", b"") for m in self.messages if m["type"] == "http.response.body"
        )

    @property
    def finished(self) -> bool:
        """Whether the app ended the body properly, which tells a client it got all of it."""
        last = self.messages[-1] if self.messages else {}
        return last.get("type") == "http.response.body" and not last.get("more_body", False)


async def exchange(
    app: FastAPI,
    method: str,
    path: str,
    *,
    headers: Mapping[str, str] | Sequence[tuple[bytes, bytes]] = (),
    json_body: Any = None,
    on_send: Callable[[Message], Awaitable[None]] | None = None,
    disconnect: asyncio.Event | None = None,
) -> Exchange:
    """Call the ASGI app directly, as a server would, without httpx's buffering.

    ``on_send`` sees every message as the app sends it (the moment a body chunk leaves);
    setting ``disconnect`` makes the client vanish: the app's next ``receive()`` returns
    ``http.disconnect``.
    """
    raw_headers = (
        [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        if isinstance(headers, Mapping)
        else list(headers)
    )
    body = b""
    if json_body is not None:
        body = json.dumps(json_body).encode()
        raw_headers.append((b"content-type", b"application/json"))
    raw_headers.append((b"content-length", str(len(body)).encode()))
    path_only, _, query = path.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path_only,
        "raw_path": path_only.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"test"), *raw_headers],
        "client": ("127.0.0.1", 40000),
        "server": ("test", 80),
    }
    result = Exchange()
    request_read = False
    vanished = disconnect or asyncio.Event()

    async def receive() -> Message:
        nonlocal request_read
        if not request_read:
            request_read = True
            return {"type": "http.request", "body": body, "more_body": False}
        await vanished.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        result.messages.append(message)
        if on_send is not None:
            await on_send(message)

    try:
        await bounded(app(scope, receive, send))
    except Exception as error:  # what the server would log; the test decides what it means
        result.error = error
    return result
