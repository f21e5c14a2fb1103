"""What every ``stockroom`` command shares: the container, the consoles, and running a use
case on a fresh event loop with domain errors turned into a clean exit."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import typer
from rich.console import Console
from rich.text import Text
from sqlalchemy.engine import make_url

from adapters.sqlite import is_sqlite
from domain.errors import DomainError
from entrypoints import migrations
from entrypoints.container import Container, dispose

console = Console()
errors = Console(stderr=True)
T = TypeVar("T")


def container_of(ctx: typer.Context) -> Container:
    container: Container = ctx.find_root().obj
    return container


def run(container: Container, use_case: Callable[[], Awaitable[T]]) -> T:
    """Run one use case on a fresh event loop, turning domain errors into a clean exit."""
    prepare_embedded_database(container)

    async def run_and_dispose() -> T:
        try:
            return await use_case()
        finally:
            await dispose(container)

    try:
        return asyncio.run(run_and_dispose())
    except DomainError as error:
        errors.print(Text.assemble(("error: ", "red"), str(error)))
        raise typer.Exit(code=1) from error


def database_url(container: Container) -> str:
    return container.settings().database_url


def prepare_embedded_database(container: Container) -> None:
    """The embedded SQLite file is migrated by whichever command touches it first (``serve``,
    ``users create-admin``, ...), so a newcomer never needs a set-up step. A server database
    is only ever migrated by an explicit ``stockroom db upgrade``."""
    url = make_url(database_url(container))
    if is_sqlite(url) and url.database not in (None, "", ":memory:"):
        migrations.upgrade(url.render_as_string(hide_password=False))
