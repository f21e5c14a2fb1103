"""``stockroom db``: the schema, through Alembic."""

from __future__ import annotations

from typing import Annotated

import typer

from entrypoints import migrations
from entrypoints.cli.common import console, container_of, database_url

db_app = typer.Typer(help="Database schema migrations.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade(
    ctx: typer.Context,
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Apply migrations up to REVISION (default: the latest)."""
    url = database_url(container_of(ctx))
    migrations.upgrade(url, revision)
    console.print(
        f"database at {migrations.head_revision(url) if revision == 'head' else revision}"
    )
