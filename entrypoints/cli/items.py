"""``stockroom items``: the catalog from a script, through the same use cases as the API."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from entrypoints.cli.common import console, container_of, run
from entrypoints.cli.items_import import items_import
from service_layer.services import items as item_services
from service_layer.views import ItemView

items_app = typer.Typer(help="Manage the catalog.", no_args_is_help=True)
items_app.command("import")(items_import)


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
    container = container_of(ctx)
    command = item_services.NewItem(
        title=title, sku=sku, price=price, quantity=quantity, description=description
    )
    view = run(container, lambda: item_services.add_item(container.uow(), command))
    _print_items([view])


@items_app.command("list")
def items_list(
    ctx: typer.Context,
    skip: Annotated[int, typer.Option(min=0)] = 0,
    limit: Annotated[int, typer.Option(min=1, max=item_services.MAX_PAGE_SIZE)] = 100,
) -> None:
    """List catalog items."""
    container = container_of(ctx)
    views = run(
        container,
        lambda: item_services.list_items(container.reads().latest(), skip=skip, limit=limit),
    )
    _print_items(views)


# ignore_unknown_options: "-3" is a number here, not an option nobody declared; the domain
# then refuses a restock that is not positive, in its own words (one line, exit 1).
@items_app.command("restock", context_settings={"ignore_unknown_options": True})
def items_restock(
    ctx: typer.Context,
    item_id: Annotated[int, typer.Argument(min=1)],
    quantity: Annotated[int, typer.Argument(help="How many to add: a positive number.")],
) -> None:
    """Add QUANTITY to an item's stock."""
    container = container_of(ctx)
    view = run(container, lambda: item_services.restock(container.uow(), item_id, quantity))
    _print_items([view])


def _print_items(views: list[ItemView]) -> None:
    table = Table("id", "sku", "title", "price", "quantity")
    for view in views:
        # Text, not str: a title like "[bold]x" is data, never Rich markup.
        cells = (str(view.id), view.sku, view.title, f"{view.price:.2f}", str(view.quantity))
        table.add_row(*(Text(cell) for cell in cells))
    console.print(table)
