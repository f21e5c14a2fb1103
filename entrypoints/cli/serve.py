"""``stockroom serve``: the HTTP API under uvicorn."""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Annotated

import typer

from adapters.sqlite import is_sqlite
from entrypoints import migrations
from entrypoints.cli.common import (
    container_of,
    database_url,
    errors,
    prepare_embedded_database,
)
from entrypoints.cli.db import look
from entrypoints.cli.verdicts import UNSET_BEHIND_A_POOLER, effective_pooler, pooler_findings
from entrypoints.container import Container
from entrypoints.logging_config import log_config

# Below Kubernetes' default kill deadline (terminationGracePeriodSeconds, 30 s), with room
# left to dispose the pools once the requests in flight are done.
DEFAULT_GRACEFUL_TIMEOUT = 25
# uvicorn's httptools protocol with STOCKROOM_MAX_HEADER_BYTES enforced while the headers
# arrive: httptools itself has no limit, and by the time any ASGI middleware could look, the
# parser has buffered the whole header (a 32 MiB one included). Why not h11 with
# --h11-max-incomplete-event-size: README, "Request limits".
HTTP_PROTOCOL = "entrypoints.api.header_guard:HeaderLimitedHttpToolsProtocol"
# uvicorn's own default. An idle keep-alive connection is closed after this long, and a client
# that sends on it at that moment gets a reset: whoever keeps connections open to us (a load
# balancer, a proxy's upstream pool, an HTTP client's pool) must give up on idle ones sooner.
# Behind a balancer with a long idle timeout (AWS ALB: 60 s), raise this above it instead.
DEFAULT_KEEP_ALIVE = 5


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    # Checked here: uvicorn would announce a port out of range and listen on another one.
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    graceful_timeout: Annotated[
        int,
        typer.Option(
            min=0,
            metavar="SECONDS",
            help="On SIGTERM, how long requests in flight may take to finish before they are "
            "cancelled (readiness answers 503 from the signal on).",
        ),
    ] = DEFAULT_GRACEFUL_TIMEOUT,
    keep_alive: Annotated[
        int,
        typer.Option(
            min=1,
            metavar="SECONDS",
            help="Close a keep-alive connection idle this long. Keep it above the idle timeout "
            "of any load balancer or proxy in front, or it sees resets.",
        ),
    ] = DEFAULT_KEEP_ALIVE,
    forwarded_allow_ips: Annotated[
        str | None,
        typer.Option(
            metavar="ADDRESSES",
            help="Proxies trusted to say who the client is (X-Forwarded-For), comma-separated, "
            "or '*'. Login throttling counts by that address. Default: uvicorn's "
            "($FORWARDED_ALLOW_IPS, else 127.0.0.1).",
        ),
    ] = None,
) -> None:
    """Serve the HTTP API with uvicorn (the embedded SQLite is migrated on first run).

    SIGTERM drains: readiness turns 503, requests in flight finish, then the pools close.
    """
    import uvicorn

    settings = container_of(ctx).settings()
    url = database_url(container_of(ctx))
    if is_sqlite(url):
        prepare_embedded_database(container_of(ctx))
    else:
        _check_before_serving(container_of(ctx), url)
    metrics_folder = None
    if workers > 1:
        # Every worker writes its metrics where any of them can read all (GET /metrics);
        # a fresh folder each start, so counters restart cleanly with the server.
        metrics_folder = tempfile.mkdtemp(prefix="stockroom-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_folder
    try:
        uvicorn.run(
            "entrypoints.api.app:create_app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            http=HTTP_PROTOCOL,
            timeout_graceful_shutdown=graceful_timeout,
            timeout_keep_alive=keep_alive,
            # None keeps uvicorn's own default; behind a proxy on another host, name it here,
            # or every client looks like the proxy to login throttling.
            forwarded_allow_ips=forwarded_allow_ips,
            # Applied by uvicorn in the supervisor and in every worker before it logs anything
            # (the app's factory configures the same again from each worker's settings).
            log_config=log_config(settings.log_format, settings.log_level),
        )
    finally:
        if metrics_folder is not None:
            shutil.rmtree(metrics_folder, ignore_errors=True)


def _check_before_serving(container: Container, url: str) -> None:
    """Refuse to serve a schema that is not at the head (production schemas change only
    through an explicit `stockroom db upgrade`), or behind a pooler the setting does not fit:
    statements prepared on one server connection would run on another and answer for
    somebody else. A database (or pooler) that is down or refuses us is one line and exit 1
    from ``look`` already."""
    facts, schema = look(container, url)
    head = migrations.head_revision(url)
    problems = []
    if schema != head:
        expected = f"code expects {head}; run `stockroom db upgrade` first"
        problems.append(f"database schema is at {schema or 'nothing'}, {expected}")
    pooler, chosen = effective_pooler(container.settings(), facts)
    if chosen:
        # The workers uvicorn starts build their settings from this environment.
        os.environ["STOCKROOM_DATABASE_POOLER"] = pooler.value
        errors.print(f"[yellow]note:[/yellow] {UNSET_BEHIND_A_POOLER}", soft_wrap=True)
    if facts is not None:
        problems += [found.text for found in pooler_findings(facts, pooler) if found.problem]
    for problem in problems:
        errors.print(f"[red]error:[/red] {problem}", soft_wrap=True)  # one line each
    if problems:
        raise typer.Exit(code=1)
