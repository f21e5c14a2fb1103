"""``stockroom serve``: the HTTP API under uvicorn."""

from __future__ import annotations

from typing import Annotated

import typer

from adapters.sqlite import is_sqlite
from entrypoints import migrations
from entrypoints.cli.common import (
    container_of,
    database_url,
    errors,
    prepare_embedded_database,
    run,
)
from entrypoints.container import Container


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
) -> None:
    """Serve the HTTP API with uvicorn (the embedded SQLite is migrated on first run)."""
    import uvicorn

    url = database_url(container_of(ctx))
    if is_sqlite(url):
        prepare_embedded_database(container_of(ctx))
    else:
        _require_current_schema(container_of(ctx), url)
    uvicorn.run(
        "entrypoints.api.app:create_app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
    )


def _require_current_schema(container: Container, url: str) -> None:
    # Production schemas change only through an explicit `stockroom db upgrade`.
    current = run(container, lambda: migrations.current_revision(container.database().engine))
    head = migrations.head_revision(url)
    if current != head:
        errors.print(
            f"[red]error:[/red] database schema is at {current or 'nothing'}, code expects "
            f"{head}; run `stockroom db upgrade` first"
        )
        raise typer.Exit(code=1)
