"""``stockroom relay``: publish the outbox's events to NATS JetStream, as a process of its own
(``service_layer.relay``; ``STOCKROOM_EVENTS_*`` settings)."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Annotated

import typer
from rich.text import Text

from entrypoints.api.http_metrics import start_metrics_listener
from entrypoints.cli.common import container_of, errors, run
from entrypoints.logging_config import configure_logging
from entrypoints.relay_runner import relay_until

log = logging.getLogger(__name__)


def relay(
    ctx: typer.Context,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            help="Serve GET /metrics (backlog, oldest unsent, publishes, failures) on this "
            "port of STOCKROOM_METRICS_HOST; 0: a free one, named in the log. Default: none.",
            min=0,
            max=65535,
        ),
    ] = None,
) -> None:
    """Publish outbox events to STOCKROOM_EVENTS_URL's JetStream until SIGTERM or Ctrl-C.

    Any number may run, on any hosts: one at a time publishes (the holder of a lease in the
    database), the others take over within seconds when it stops. A stop finishes the batch
    in hand; a kill at any point loses nothing (the stream drops what is published twice).
    """
    container = container_of(ctx)
    settings = container.settings()
    if settings.events_url is None:
        errors.print(
            Text.assemble(("error: ", "red"), "STOCKROOM_EVENTS_URL is not set: no broker"),
            soft_wrap=True,
        )
        raise typer.Exit(code=1)
    configure_logging(settings.log_format, settings.log_level)
    if metrics_port is not None:
        # This process's own figures, from a thread, for as long as it runs.
        listener = start_metrics_listener(settings.metrics_host, metrics_port, None)
        log.info(
            "relay metrics at http://%s:%d/metrics", settings.metrics_host, listener.server_port
        )

    async def until_signalled() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await relay_until(container, stop)

    run(container, until_signalled)
