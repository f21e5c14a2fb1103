"""``stockroom``: serve the API, migrate the database, and script the catalog.

Commands build the same container as the API and call the same service functions, so a
script gets exactly the transactions and rules an HTTP client gets.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from decimal import Decimal, InvalidOperation
from typing import Annotated, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table
from rich.text import Text
from sqlalchemy.engine import make_url

from adapters.sqlite import is_sqlite
from domain.errors import DomainError
from entrypoints import migrations
from entrypoints.container import Container, build_container, dispose
from service_layer.services import items as item_services
from service_layer.services import users as user_services
from service_layer.views import ItemView

# Tracebacks never show local variables: one of them may be a password.
app = typer.Typer(
    help="Stockroom: a shop's catalog, stock, customers and orders.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
db_app = typer.Typer(help="Database schema migrations.", no_args_is_help=True)
items_app = typer.Typer(help="Manage the catalog.", no_args_is_help=True)
users_app = typer.Typer(help="Manage accounts.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(items_app, name="items")
app.add_typer(users_app, name="users")

console = Console()
errors = Console(stderr=True)
T = TypeVar("T")


@app.callback()
def main(ctx: typer.Context) -> None:
    # Tests hand in their own container through ``obj``; everyone else gets the real one.
    if ctx.obj is None:
        ctx.obj = build_container()
    try:
        ctx.obj.settings()
    except ValidationError as error:
        # Only the messages: pydantic's own rendering would echo the offending values, and
        # one of them may be the secret key.
        for problem in error.errors():
            errors.print(f"[red]configuration error:[/red] {problem['msg']}")
        raise typer.Exit(code=2) from None


def _container(ctx: typer.Context) -> Container:
    container: Container = ctx.find_root().obj
    return container


def _run(container: Container, use_case: Callable[[], Awaitable[T]]) -> T:
    """Run one use case on a fresh event loop, turning domain errors into a clean exit."""
    _prepare_embedded_database(container)

    async def run() -> T:
        try:
            return await use_case()
        finally:
            await dispose(container)

    try:
        return asyncio.run(run())
    except DomainError as error:
        errors.print(Text.assemble(("error: ", "red"), str(error)))
        raise typer.Exit(code=1) from error


def _database_url(container: Container) -> str:
    return container.settings().database_url


def _prepare_embedded_database(container: Container) -> None:
    """The embedded SQLite file is migrated by whichever command touches it first (``serve``,
    ``users create-admin``, ...), so a newcomer never needs a set-up step. A server database
    is only ever migrated by an explicit ``stockroom db upgrade``."""
    url = make_url(_database_url(container))
    if is_sqlite(url) and url.database not in (None, "", ":memory:"):
        migrations.upgrade(url.render_as_string(hide_password=False))


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
) -> None:
    """Serve the HTTP API with uvicorn (the embedded SQLite is migrated on first run)."""
    import uvicorn

    url = _database_url(_container(ctx))
    if is_sqlite(url):
        _prepare_embedded_database(_container(ctx))
    else:
        _require_current_schema(_container(ctx), url)
    uvicorn.run(
        "entrypoints.api.app:create_app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
    )


def _require_current_schema(container: Container, url: str) -> None:
    # Production schemas change only through an explicit `stockroom db upgrade`.
    current = _run(container, lambda: migrations.current_revision(container.database().engine))
    head = migrations.head_revision(url)
    if current != head:
        errors.print(
            f"[red]error:[/red] database schema is at {current or 'nothing'}, code expects "
            f"{head}; run `stockroom db upgrade` first"
        )
        raise typer.Exit(code=1)


@db_app.command("upgrade")
def db_upgrade(
    ctx: typer.Context,
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Apply migrations up to REVISION (default: the latest)."""
    url = _database_url(_container(ctx))
    migrations.upgrade(url, revision)
    console.print(
        f"database at {migrations.head_revision(url) if revision == 'head' else revision}"
    )


def _parse_price(text: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation as error:
        raise typer.BadParameter(f"{text!r} is not a number") from error


@items_app.command("add")
def items_add(
    ctx: typer.Context,
    title: Annotated[str, typer.Option(help="What the item is called.")],
    sku: Annotated[
        str | None, typer.Option(help="Stock keeping unit; generated if absent.")
    ] = None,
    price: Annotated[
        Decimal, typer.Option(parser=_parse_price, help="Unit price, e.g. 19.99.")
    ] = Decimal("0"),
    quantity: Annotated[int, typer.Option(help="Initial stock.")] = 0,
    description: Annotated[str | None, typer.Option(help="Longer description.")] = None,
) -> None:
    """Add an item to the catalog."""
    container = _container(ctx)
    command = item_services.NewItem(
        title=title, sku=sku, price=price, quantity=quantity, description=description
    )
    view = _run(container, lambda: item_services.add_item(container.uow(), command))
    _print_items([view])


@items_app.command("list")
def items_list(
    ctx: typer.Context,
    skip: Annotated[int, typer.Option(min=0)] = 0,
    limit: Annotated[int, typer.Option(min=1, max=item_services.MAX_PAGE_SIZE)] = 100,
) -> None:
    """List catalog items."""
    container = _container(ctx)
    views = _run(
        container, lambda: item_services.list_items(container.reads(), skip=skip, limit=limit)
    )
    _print_items(views)


@items_app.command("restock")
def items_restock(
    ctx: typer.Context,
    item_id: Annotated[int, typer.Argument(min=1)],
    quantity: Annotated[int, typer.Argument(min=1)],
) -> None:
    """Add QUANTITY to an item's stock."""
    container = _container(ctx)
    view = _run(container, lambda: item_services.restock(container.uow(), item_id, quantity))
    _print_items([view])


@users_app.command("create-admin")
def users_create_admin(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="The admin's email address.")],
    password: Annotated[
        str,
        typer.Option(
            envvar="STOCKROOM_ADMIN_PASSWORD",
            prompt=True,
            hide_input=True,
            confirmation_prompt=True,
            show_envvar=True,
            help="Prompted for when not in the environment; never pass it on the command line.",
        ),
    ],
) -> None:
    """Create an admin, or promote (and reactivate, with this password) an existing account."""
    container = _container(ctx)
    hasher = container.password_hasher()
    user, created = _run(
        container, lambda: user_services.create_admin(container.uow(), hasher, email, password)
    )
    verb = "created" if created else "promoted"
    console.print(f"{verb} admin {user.email} (id {user.id})", markup=False)


def _print_items(views: list[ItemView]) -> None:
    table = Table("id", "sku", "title", "price", "quantity")
    for view in views:
        # Text, not str: a title like "[bold]x" is data, never Rich markup.
        cells = (str(view.id), view.sku, view.title, f"{view.price:.2f}", str(view.quantity))
        table.add_row(*(Text(cell) for cell in cells))
    console.print(table)
