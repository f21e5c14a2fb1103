"""``stockroom``: serve the API, migrate the database, and script the catalog.

Commands build the same container as the API and call the same service functions, so a
script gets exactly the transactions and rules an HTTP client gets. A mistake an operator can
fix is one line on stderr and a non-zero exit (``entrypoints.cli.explained``).
"""

from __future__ import annotations

from importlib.metadata import version
from typing import Annotated

import typer

from entrypoints.cli.common import console, debug_requested
from entrypoints.cli.db import db_app
from entrypoints.cli.events import events_app
from entrypoints.cli.explained import ExplainingGroup
from entrypoints.cli.items import items_app
from entrypoints.cli.maintenance import maintenance_app
from entrypoints.cli.orders import orders_app
from entrypoints.cli.relay import relay
from entrypoints.cli.serve import serve
from entrypoints.cli.stock import stock_app
from entrypoints.cli.users import users_app
from entrypoints.container import build_container

# Tracebacks never show local variables: one of them may be a password.
app = typer.Typer(
    cls=ExplainingGroup,
    help="Stockroom: a shop's catalog, stock, customers and orders.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(db_app, name="db")
app.add_typer(items_app, name="items")
app.add_typer(stock_app, name="stock")
app.add_typer(orders_app, name="orders")
app.add_typer(users_app, name="users")
app.add_typer(maintenance_app, name="maintenance")
app.add_typer(events_app, name="events")
app.command()(serve)
app.command()(relay)


def _print_version(wanted: bool) -> None:
    if wanted:
        console.print(f"stockroom {version('stockroom')}", markup=False, highlight=False)
        raise typer.Exit


@app.callback()
def main(
    ctx: typer.Context,
    debug: Annotated[  # read by ExplainingGroup too, from ctx.params
        bool,
        typer.Option(
            "--debug",
            envvar="STOCKROOM_DEBUG",
            help="Show the traceback behind an error instead of its one-line explanation.",
        ),
    ] = False,
    _version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    debug_requested.set(debug)
    # Tests hand in their own container through ``obj``; everyone else gets the real one.
    if ctx.obj is None:
        ctx.obj = build_container()
    # Settings are read now, so a bad one is reported before any command starts (naming its
    # variable: see entrypoints.cli.explained).
    ctx.obj.settings()
