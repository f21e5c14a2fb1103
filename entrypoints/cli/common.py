"""What every ``stockroom`` command shares: the container, the consoles, and running a use
case on a fresh event loop, with domain errors and an unreachable database turned into one
line and a non-zero exit (their traceback under ``--debug``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from contextvars import ContextVar
from typing import TypeVar

import typer
from rich.console import Console
from rich.text import Text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from adapters.database import Database
from adapters.sqlite import is_sqlite
from domain.errors import DomainError
from entrypoints import migrations
from entrypoints.container import Container, running
from service_layer.errors import DatabaseUnavailable

console = Console()
errors = Console(stderr=True)
T = TypeVar("T")
# Set by the root command from --debug / STOCKROOM_DEBUG (entrypoints/cli/__init__.py), for the
# commands' one-line errors to step aside for their traceback.
debug_requested: ContextVar[bool] = ContextVar("debug_requested", default=False)

# How long a command waits for the database's first answer before saying it cannot reach it
# (a pooler whose server is down may hold a new client for much longer).
REACH_SECONDS = 10.0


def container_of(ctx: typer.Context) -> Container:
    container: Container = ctx.find_root().obj
    return container


def run(container: Container, use_case: Callable[[], Awaitable[T]]) -> T:
    """Run one use case on the container's database (see ``run_on``).

    A server database must be migrated to the head first: a schema behind the code is one
    line saying to run ``stockroom db upgrade`` (``migrations.SchemaNotAtHead``), not a
    driver's "relation does not exist" halfway through a use case.
    """
    prepare_embedded_database(container)
    url = database_url(container)
    database = container.database()

    async def at_head_then_run() -> T:
        if not is_sqlite(url):
            await migrations.require_head(database.engine)
        return await use_case()

    # The container's running(): every pool the command opened is closed after it.
    return run_on(database, url, at_head_then_run, life=running(container))


def run_on(
    database: Database,
    url: str,
    use_case: Callable[[], Awaitable[T]],
    *,
    life: AbstractAsyncContextManager[object] | None = None,
) -> T:
    """Run one use case on a fresh event loop, inside ``life`` (by default: then dispose
    ``database``, at ``url``).

    A server database is reached first (one round trip), so that one that is down or refuses
    us (no such database, wrong password, too many connections) is reported as such, on one
    line, whatever error the driver raises for it. A domain error is one line too.
    """

    async def reach_then_run() -> T:
        async with life or disposing(database):
            if not is_sqlite(url):
                await reach(database)
            return await use_case()

    try:
        return asyncio.run(reach_then_run())
    except DomainError as error:
        if debugging():
            raise
        errors.print(Text.assemble(("error: ", "red"), str(error)), soft_wrap=True)
        raise typer.Exit(code=1) from error
    except DatabaseUnavailable as error:
        if debugging():
            raise
        # soft_wrap: one line whatever the terminal's width, so a script can grep it.
        errors.print(Text.assemble(("error: ", "red"), unreachable(url, error)), soft_wrap=True)
        raise typer.Exit(code=1) from error


def debugging() -> bool:
    """``stockroom --debug`` (or ``STOCKROOM_DEBUG=1``): an error keeps its traceback instead
    of being explained in one line."""
    return debug_requested.get()


@asynccontextmanager
async def disposing(database: Database) -> AsyncIterator[Database]:
    try:
        yield database
    finally:
        await database.dispose()


async def reach(database: Database) -> None:
    """One round trip within ``REACH_SECONDS``, or ``DatabaseUnavailable``."""
    try:
        await database.ping(within=REACH_SECONDS)
    except DatabaseUnavailable:
        raise
    except Exception as error:
        # Whatever stops the very first round trip (an unknown database, a refused login)
        # means the database cannot be used, even where the error is not one the API would
        # classify as unavailability.
        raise DatabaseUnavailable(str(error)) from error


def unreachable(url: str, error: BaseException) -> str:
    """``cannot reach the database at URL: reason`` on one line, with no password in it."""
    parsed = make_url(url)
    reason = " ".join(_reason(error).split())
    if parsed.password:
        reason = reason.replace(str(parsed.password), "***")
    return f"cannot reach the database at {parsed.render_as_string(hide_password=True)}: {reason}"


def _reason(error: BaseException) -> str:
    """The driver's own words where there are some, else the service layer's."""
    cause = error.__cause__
    if isinstance(error, DatabaseUnavailable) and isinstance(cause, DBAPIError | OSError):
        # Not a bare TimeoutError, though: the service layer's words say how long it waited.
        return _reason(cause) if str(cause) else str(error)
    if isinstance(error, DBAPIError) and error.orig is not None:
        return str(error.orig)
    return str(error) or type(error).__name__


def database_url(container: Container) -> str:
    return container.settings().database_url


def prepare_embedded_database(container: Container) -> None:
    """The embedded SQLite file is migrated by whichever command touches it first (``serve``,
    ``users create-admin``, ...), so a newcomer never needs a set-up step. A server database
    is only ever migrated by an explicit ``stockroom db upgrade``."""
    url = make_url(database_url(container))
    if is_sqlite(url) and url.database not in (None, "", ":memory:"):
        migrations.upgrade(url.render_as_string(hide_password=False))
