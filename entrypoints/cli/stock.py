"""``stockroom stock``: what is on the shelf, for whoever reorders."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from entrypoints.cli.common import console, container_of, errors, run
from service_layer.services import stock as stock_services

stock_app = typer.Typer(help="See stock levels.", no_args_is_help=True)


@stock_app.command("report")
def stock_report(
    ctx: typer.Context,
    below: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="Only items with fewer than N in stock (quantity < N). The low-stock alert "
            "fires at STOCKROOM_LOW_STOCK_THRESHOLD units or fewer: that is --below threshold+1.",
            metavar="N",
            show_default=False,
        ),
    ] = None,
    limit: Annotated[
        int, typer.Option(min=1, max=stock_services.MAX_REPORT_ROWS, help="At most this many rows.")
    ] = 100,
) -> None:
    """Items with the least stock first (id, sku, title, quantity)."""
    container = container_of(ctx)
    report = run(
        container,
        lambda: stock_services.stock_report(container.reads().latest, below=below, limit=limit),
    )
    table = Table("id", "sku", "title", "quantity")
    for view in report.items:
        # Text, not str: a title like "[bold]x" is data, never Rich markup.
        cells = (str(view.id), view.sku, view.title, str(view.quantity))
        table.add_row(*(Text(cell) for cell in cells))
    console.print(table)
    if report.more:
        # On stderr, so a script reading the table never mistakes the note for a row.
        errors.print(
            f"more items match: showing the first {limit}; raise --limit to see more", markup=False
        )
