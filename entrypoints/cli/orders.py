"""``stockroom orders``: the shop's orders as staff see them, through the API's use cases."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from domain.errors import DomainError, UnknownUser
from domain.order import OrderStatus
from entrypoints.cli.common import console, container_of, run
from service_layer.services import orders as order_services
from service_layer.views import OrderView

orders_app = typer.Typer(help="See orders.", no_args_is_help=True)


@orders_app.command("list")
def orders_list(
    ctx: typer.Context,
    status: Annotated[
        OrderStatus | None,
        typer.Option(case_sensitive=False, help="Only orders in this state.", show_default=False),
    ] = None,
    customer: Annotated[
        str | None,
        typer.Option(help="Only the orders of the account with this email.", metavar="EMAIL"),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=order_services.MAX_PAGE_SIZE)] = 20,
) -> None:
    """List orders, newest first."""
    container = container_of(ctx)

    async def find() -> list[OrderView]:
        try:
            return await order_services.find_orders(
                container.uow(), customer_email=customer, status=status, limit=limit
            )
        except UnknownUser:
            # The API never says whether an email has an account; an operator may know.
            raise DomainError(f"no account has the email {customer}") from None

    table = Table("id", "customer id", "status", "lines", "total", "created")
    for order in run(container, find):
        cells = (
            str(order.id),
            str(order.customer_id),
            order.status.value,
            str(len(order.lines)),
            f"{order.total:.2f}",
            order.created_at.isoformat(timespec="seconds"),
        )
        table.add_row(*(Text(cell) for cell in cells))
    console.print(table)
