"""``stockroom events``: the in-process handlers' parked calls (``service_layer/messagebus.py``
parks a call once its retries are used up; it waits here, never lost)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from entrypoints.cli.common import console, container_of, run
from service_layer.services import events as event_services

events_app = typer.Typer(help="See and retry parked event handler calls.", no_args_is_help=True)


@events_app.command("list")
def events_list(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(min=1, max=event_services.MAX_LISTED)] = 100,
) -> None:
    """List parked handler calls, oldest event first."""
    container = container_of(ctx)
    calls = run(container, lambda: event_services.parked_calls(container.uow(), limit=limit))
    table = Table("position", "event", "subject", "handler", "attempts", "parked", "last error")
    for call in calls:
        cells = (
            str(call.message.position),
            call.message.type,
            call.message.subject,
            call.handler,
            str(call.attempts),
            call.parked_at.isoformat(timespec="seconds") if call.parked_at else "",
            call.last_error or "",
        )
        table.add_row(*(Text(cell) for cell in cells))
    console.print(table)


@events_app.command("retry")
def events_retry(
    ctx: typer.Context,
    positions: Annotated[
        list[int] | None,
        typer.Argument(help="Outbox positions of the events (see `events list`).", min=1),
    ] = None,
    every: Annotated[bool, typer.Option("--all", help="Every parked call.")] = False,
) -> None:
    """Make parked calls due again now; the dispatcher (in `stockroom serve`) runs them."""
    if bool(positions) == every:
        raise typer.BadParameter("name the events' positions, or --all (not both)")
    container = container_of(ctx)
    chosen = None if every else positions
    released = run(
        container,
        lambda: event_services.retry_parked(container.uow(), chosen, datetime.now(UTC)),
    )
    console.print(f"{released} parked calls are due again")
