"""The outbox relay wired to this process's database and the configured broker: what
``stockroom relay`` runs, and ``stockroom serve`` in each worker when
``STOCKROOM_EVENTS_RELAY_IN_PROCESS`` is set (the workers share one lease, so one publishes).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from adapters.nats_publisher import ACK_TIMEOUT_SECONDS, JetStreamPublisher
from adapters.outbox_store import SqlRelayOutbox
from entrypoints.container import Container
from service_layer.relay import Relay, RelayPolicy


def publisher_of(container: Container) -> JetStreamPublisher:
    settings = container.settings()
    # Half the lease at most: a publish that hangs fails before the lease could expire.
    ack_timeout = min(ACK_TIMEOUT_SECONDS, settings.events_lease_seconds / 2)
    if settings.events_url is None:
        raise ValueError("STOCKROOM_EVENTS_URL is not set: there is no broker to relay to")
    return JetStreamPublisher(
        settings.events_url,
        stream=settings.events_stream,
        subject_prefix=settings.events_subject_prefix,
        ack_timeout=ack_timeout,
    )


async def relay_until(container: Container, stop: asyncio.Event) -> None:
    """Relay until ``stop`` is set (or the task is cancelled); then give the lease up and
    close the broker's connection."""
    publisher = publisher_of(container)
    settings = container.settings()
    policy = RelayPolicy(
        poll_interval=settings.events_poll_interval,
        lease=timedelta(seconds=settings.events_lease_seconds),
    )
    relay = Relay(SqlRelayOutbox(container.database()), publisher, policy)
    try:
        await relay.run(stop)
    finally:
        await publisher.close()


async def relay_in_process(container: Container) -> None:
    """For the app's lifespan: runs until the app stops and cancels it."""
    await relay_until(container, asyncio.Event())
