"""``stockroom``: serve the API, migrate the database, and script the catalog.

Commands build the same container as the API and call the same service functions, so a
script gets exactly the transactions and rules an HTTP client gets.
"""

from __future__ import annotations

import typer
from pydantic import ValidationError

from entrypoints.cli.common import errors
from entrypoints.cli.db import db_app
from entrypoints.cli.items import items_app
from entrypoints.cli.maintenance import maintenance_app
from entrypoints.cli.serve import serve
from entrypoints.cli.users import users_app
from entrypoints.container import build_container

# Tracebacks never show local variables: one of them may be a password.
app = typer.Typer(
    help="Stockroom: a shop's catalog, stock, customers and orders.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(db_app, name="db")
app.add_typer(items_app, name="items")
app.add_typer(users_app, name="users")
app.add_typer(maintenance_app, name="maintenance")
app.command()(serve)


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
