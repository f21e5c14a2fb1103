"""``stockroom serve``: the HTTP API under uvicorn or Granian (entrypoints/cli/servers.py)."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from adapters.sqlite import is_sqlite
from entrypoints import migrations
from entrypoints.api.http_metrics import start_metrics_listener
from entrypoints.cli.common import (
    container_of,
    database_url,
    errors,
    prepare_embedded_database,
)
from entrypoints.cli.db import look
from entrypoints.cli.servers import APP_FACTORY, DEFAULT_SERVER, ServeOptions, Server, refusal, run
from entrypoints.cli.verdicts import (
    STANDBY,
    UNSET_BEHIND_A_POOLER,
    effective_pooler,
    pooler_findings,
)
from entrypoints.container import Container
from entrypoints.logging_config import configure_logging, log_config
from entrypoints.settings import Settings
from migrations.window import Fit, in_window, outside_window

# With the drain before it (STOCKROOM_DRAIN_SECONDS, 5) well below Kubernetes' default kill
# deadline (terminationGracePeriodSeconds, 30 s): room to dispose the pools once the requests
# in flight are done, and for a preStop hook.
DEFAULT_GRACEFUL_TIMEOUT = 15
# uvicorn's own default. An idle keep-alive connection is closed after this long, and a client
# that sends on it at that moment gets a reset: whoever keeps connections open to us (a load
# balancer, a proxy's upstream pool, an HTTP client's pool) must give up on idle ones sooner.
# Behind a balancer with a long idle timeout (AWS ALB: 60 s), raise this above it instead.
DEFAULT_KEEP_ALIVE = 5
# uvicorn reads it when told nothing; we always tell it (STOCKROOM_TRUSTED_PROXIES instead).
UVICORN_TRUST_VARIABLE = "FORWARDED_ALLOW_IPS"

logger = logging.getLogger(__name__)


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    # Checked here: uvicorn would announce a port out of range and listen on another one.
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    server: Annotated[
        Server,
        typer.Option(help="The HTTP server: uvicorn (httptools, uvloop) or granian (Rust)."),
    ] = DEFAULT_SERVER,
    graceful_timeout: Annotated[
        int,
        typer.Option(
            min=0,
            metavar="SECONDS",
            help="On SIGTERM, how long requests in flight may take to finish before they are "
            "cancelled (granian: the worker is killed) (readiness answers 503 from the signal "
            "on).",
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
            help="Proxies trusted to say who the client is (X-Forwarded-For): addresses or "
            "networks, comma-separated, or '*'. Login throttling counts by that address. "
            "Overrides STOCKROOM_TRUSTED_PROXIES (default: none, the peer is the client).",
        ),
    ] = None,
) -> None:
    """Serve the HTTP API with uvicorn or Granian (the embedded SQLite is migrated on first
    run).

    SIGTERM drains: readiness turns 503, requests in flight finish, then the pools close.
    """
    settings = container_of(ctx).settings()
    trusted = settings.trusted_proxies
    if forwarded_allow_ips is not None:
        trusted = [proxy.strip() for proxy in forwarded_allow_ips.split(",") if proxy.strip()]
    options = ServeOptions(
        host=host,
        port=port,
        workers=workers,
        graceful_timeout=graceful_timeout,
        keep_alive=keep_alive,
        trusted_proxies=tuple(trusted),
        log_config=log_config(settings.log_format, settings.log_level),
        log_level=settings.log_level,
        max_header_bytes=settings.max_header_bytes,
        access_log=settings.access_log,
    )
    refused = refusal(server, options)
    if UVICORN_TRUST_VARIABLE in os.environ:
        # It once widened trust by itself: refused, rather than quietly no longer in force.
        refused = (
            f"${UVICORN_TRUST_VARIABLE} is not read: name the proxies trusted with "
            "X-Forwarded-For in STOCKROOM_TRUSTED_PROXIES (or --forwarded-allow-ips) and unset it"
        )
    if refused is not None:
        errors.print(Text.assemble(("error: ", "red"), refused), soft_wrap=True)
        raise typer.Exit(code=1)
    url = database_url(container_of(ctx))
    if is_sqlite(url):
        prepare_embedded_database(container_of(ctx))
    else:
        _check_before_serving(container_of(ctx), url)
    metrics_folder = None
    if settings.metrics_enabled and (workers > 1 or server is Server.granian):
        # The workers are other processes (Granian's always are): each writes its metrics
        # where this one reads them all; a fresh folder each start, so counters restart
        # cleanly with the server.
        metrics_folder = tempfile.mkdtemp(prefix="stockroom-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_folder
    try:
        if settings.metrics_enabled:
            _listen_for_metrics(settings, metrics_folder)
        run(server, APP_FACTORY, options)
    finally:
        if metrics_folder is not None:
            shutil.rmtree(metrics_folder, ignore_errors=True)


def _listen_for_metrics(settings: Settings, workers_folder: str | None) -> None:
    """The metrics listener, in this process (entrypoints/api/http_metrics.py), or one line
    and exit 1: an instance nobody can scrape must not look healthy."""
    host = settings.metrics_host
    try:
        listener = start_metrics_listener(
            host, settings.metrics_port, Path(workers_folder) if workers_folder else None
        )
    except OSError as error:
        where = f"{host}:{settings.metrics_port}"
        errors.print(
            Text.assemble(
                ("error: ", "red"),
                f"cannot serve metrics on {where}: {error.strerror or error} (set "
                "STOCKROOM_METRICS_HOST and STOCKROOM_METRICS_PORT, or "
                "STOCKROOM_METRICS_ENABLED=false)",
            ),
            soft_wrap=True,
        )
        raise typer.Exit(code=1) from None
    # Configured now rather than by the server, which does it again: this line is the first.
    configure_logging(settings.log_format, settings.log_level)
    shown = f"[{host}]" if ":" in host else host
    logger.info("Metrics on http://%s:%d/metrics", shown, listener.server_port)


def _check_before_serving(container: Container, url: str) -> None:
    """Refuse to serve a schema behind the head (production schemas change only through an
    explicit `stockroom db upgrade`) or newer than the code outside its compatible window
    (``migrations/window.py``; inside it, a note: the previous release keeps serving, and
    restarting, through an expand migration), or behind a pooler the setting does not fit:
    statements prepared on one server connection would run on another and answer for
    somebody else. A database (or pooler) that is down or refuses us is one line and exit 1
    from ``look`` already."""
    facts, schema = look(container, url)
    head = migrations.head_revision(url)
    problems = []
    if facts is not None and facts.in_recovery:
        problems.append(STANDBY)
    fits = migrations.fit(schema, url)
    if fits is Fit.BEHIND:
        expected = f"code expects {head}; run `stockroom db upgrade` first"
        problems.append(f"database schema is at {schema.revision or 'nothing'}, {expected}")
    elif fits is Fit.NEWER:
        problems.append(outside_window(schema, head))
    elif fits is Fit.IN_WINDOW:
        errors.print(f"[yellow]note:[/yellow] {in_window(schema, head)}", soft_wrap=True)
    pooler, chosen = effective_pooler(container.settings(), facts)
    if chosen:
        # The workers the server starts build their settings from this environment.
        os.environ["STOCKROOM_DATABASE_POOLER"] = pooler.value
        errors.print(f"[yellow]note:[/yellow] {UNSET_BEHIND_A_POOLER}", soft_wrap=True)
    if facts is not None:
        problems += [found.text for found in pooler_findings(facts, pooler) if found.problem]
    for problem in problems:
        errors.print(f"[red]error:[/red] {problem}", soft_wrap=True)  # one line each
    if problems:
        raise typer.Exit(code=1)
