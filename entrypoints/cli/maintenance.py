"""``stockroom maintenance``: housekeeping on demand (each API worker also runs it on a timer)."""

from __future__ import annotations

from datetime import UTC, datetime

import typer

from adapters.outbox_store import SqlRelayOutbox
from entrypoints.cli.common import console, container_of, run
from service_layer.relay import purge_published
from service_layer.services.maintenance import (
    purge_expired_idempotency_keys,
    purge_finished_handler_calls,
)

maintenance_app = typer.Typer(help="Housekeeping.", no_args_is_help=True)


@maintenance_app.command("purge")
def purge(ctx: typer.Context) -> None:
    """Remove idempotency keys older than STOCKROOM_IDEMPOTENCY_TTL_HOURS, outbox rows
    published more than STOCKROOM_EVENTS_RETENTION_HOURS ago, and in-process handler calls
    done more than STOCKROOM_EVENTS_RETENTION_HOURS ago (in batches).

    Safe to run at any time, from anywhere, alongside the servers' own periodic purges.
    """
    container = container_of(ctx)
    ttl = container.settings().idempotency_ttl
    removed = run(
        container,
        lambda: purge_expired_idempotency_keys(container.uow(), datetime.now(UTC), ttl=ttl),
    )
    console.print(f"removed {removed} expired idempotency keys")
    # Outbox rows published longer ago than STOCKROOM_EVENTS_RETENTION_HOURS (issue 25); with
    # no broker configured, rows that occurred longer ago (none is ever published).
    outbox = SqlRelayOutbox(container.database())
    settings = container.settings()
    broker = settings.events_url is not None
    sent = run(
        container,
        lambda: purge_published(
            outbox, datetime.now(UTC), settings.events_retention, broker=broker
        ),
    )
    console.print(f"removed {sent} {'published ' if broker else ''}outbox rows")
    # Handler calls done before the retention: receipts nobody reads any more. Pending and
    # parked calls stay (a parked one waits for `stockroom events retry`).
    cutoff = datetime.now(UTC) - settings.events_retention
    done = run(container, lambda: purge_finished_handler_calls(container.uow(), cutoff))
    console.print(f"removed {done} finished handler calls")
