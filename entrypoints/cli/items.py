"""``stockroom items``: the catalog from a script, through the same use cases as the API."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterable, Awaitable, Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, TextIO

import typer
from rich.table import Table
from rich.text import Text

from domain.text import LINE_BREAKING
from entrypoints.cli import item_files
from entrypoints.cli.atomic_file import replacing
from entrypoints.cli.common import console, container_of, errors, run
from entrypoints.cli.item_files import EXTENSIONS, FileFormat
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
    page = run(
        container,
        lambda: item_services.list_items(container.reads().latest, skip=skip, limit=limit),
    )
    _print_items(page.rows)


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


_WRITERS: dict[FileFormat, Callable[[AsyncIterable[ItemView], TextIO], Awaitable[int]]] = {
    FileFormat.CSV: item_files.write_csv,
    FileFormat.JSONL: item_files.write_jsonl,
}
STDOUT = "-"


def format_for(output: str, given: FileFormat | None) -> FileFormat:
    """``--format`` if given, else what the file's extension says, else CSV."""
    if given is not None:
        return given
    if output == STDOUT:
        return FileFormat.CSV
    return EXTENSIONS.get(Path(output).suffix.lower(), FileFormat.CSV)


@items_app.command("export")
def items_export(
    ctx: typer.Context,
    file_format: Annotated[
        FileFormat | None,
        typer.Option(
            "--format",
            case_sensitive=False,
            help="csv or jsonl. Default: from the -o file's extension (.csv, .jsonl, .ndjson), "
            "else csv.",
            show_default=False,
        ),
    ] = None,
    output: Annotated[
        str,
        typer.Option(
            "--output",
            "-o",
            help="File to write, replaced only once the export is complete; - for stdout.",
        ),
    ] = STDOUT,
) -> None:
    """Write the whole catalog (columns sku,title,price,quantity,description), in id order.

    Streamed page by page: memory stays flat whatever the size of the catalog, and no
    database connection is held between pages.
    """
    container = container_of(ctx)
    write = _WRITERS[format_for(output, file_format)]
    reads = container.reads().latest  # a fresh copy, as of now, not a lagging replica's

    def export_to(stream: TextIO) -> int:
        return run(container, lambda: write(item_services.export_items(reads), stream))

    if output == STDOUT:
        export_to(sys.stdout)
        return
    with replacing(Path(output)) as stream:
        count = export_to(stream)
    # On stderr: stdout may be the data itself in another invocation; keep them apart always.
    errors.print(f"exported {count} items to {output}", markup=False, highlight=False)


def _print_items(views: list[ItemView]) -> None:
    table = Table("id", "sku", "title", "price", "quantity")
    for view in views:
        # Text, not str: a title like "[bold]x" is data, never Rich markup.
        cells = (str(view.id), view.sku, view.title, f"{view.price:.2f}", str(view.quantity))
        table.add_row(*(Text(_shown(cell)) for cell in cells))
    console.print(table)


def _shown(cell: str) -> str:
    """A title stored before control characters were refused may still hold some (an escape
    sequence, a newline): shown as ``\\u001b``, never sent to the terminal."""
    return "".join(f"\\u{ord(char):04x}" if char in LINE_BREAKING else char for char in cell)
