"""Publishing outbox rows to NATS JetStream (nats-py): the relay's ``EventPublisher``.

Each row is one CloudEvent (``service_layer.cloudevents``) on the subject
``<prefix>.<event type>``, e.g. ``stockroom.order.placed``, with the event id as
``Nats-Msg-Id``: the stream drops a second message with the same id within its duplicate
window, which is how a relay killed between the acknowledgement and its mark leaves no
duplicate behind. ``js.publish`` waits for the stream's acknowledgement: the row is marked
published only once the message is stored.
"""

from __future__ import annotations

import asyncio
import contextlib

import nats
from nats.aio.client import Client
from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.api import StreamConfig
from nats.js.errors import NotFoundError

from service_layer.cloudevents import DEFAULT_SOURCE, cloudevent, encoded
from service_layer.relay_ports import BrokerUnavailable, OutboxRecord

# Longer than any relay's outage the stream has to bridge with a re-publish: a relay killed
# after the acknowledgement is replaced within a lease (seconds), and re-publishes at once.
DUPLICATE_WINDOW_SECONDS = 120.0
# How long a publish waits for the stream's acknowledgement. The relay passes half its lease:
# a hung publish fails before the lease could run out under it.
ACK_TIMEOUT_SECONDS = 5.0


CONNECT_SECONDS = 2


async def _reported_by_the_relay(error: Exception) -> None:
    """nats-py's default logs each connection error with its traceback; a failed publish is
    logged once, by the relay, as it retries (``service_layer.relay``)."""


def subject_for(prefix: str, event_type: str) -> str:
    return f"{prefix}.{event_type}"


class JetStreamPublisher:
    """Connects on first use and again after a failure; ``close()`` when done."""

    def __init__(
        self,
        url: str,
        *,
        stream: str,
        subject_prefix: str,
        source: str = DEFAULT_SOURCE,
        duplicate_window: float = DUPLICATE_WINDOW_SECONDS,
        ack_timeout: float = ACK_TIMEOUT_SECONDS,
    ) -> None:
        self._url = url
        self.stream = stream
        self.subject_prefix = subject_prefix
        self._source = source
        self._duplicate_window = duplicate_window
        self._ack_timeout = ack_timeout
        self._client: Client | None = None
        self._js: JetStreamContext | None = None
        # The relay has a window of publishes in flight at once: one of them connects, the
        # others wait for that connection rather than each opening one of their own.
        self._connecting = asyncio.Lock()

    async def _jetstream(self) -> JetStreamContext:
        if self._js is not None and self._client is not None and self._client.is_connected:
            return self._js
        async with self._connecting:
            if self._js is not None and self._client is not None and self._client.is_connected:
                return self._js  # another publish connected while this one waited
            return await self._connect()

    async def _connect(self) -> JetStreamContext:
        await self.close()
        # No reconnecting inside the client: a publish must fail now (the relay backs off
        # and retries the same row), not sit in a reconnect loop holding the lease. One
        # retry of the first connect is the fewest nats-py allows (0 means: forever).
        async with asyncio.timeout(CONNECT_SECONDS * 3):
            client = await nats.connect(
                self._url,
                connect_timeout=CONNECT_SECONDS,
                allow_reconnect=False,
                max_reconnect_attempts=1,
                reconnect_time_wait=0.1,
                error_cb=_reported_by_the_relay,
            )
        js = client.jetstream(timeout=self._ack_timeout)
        try:
            await self._ensure_stream(js)
        except BaseException:
            await client.close()
            raise
        self._client, self._js = client, js
        return js

    async def _ensure_stream(self, js: JetStreamContext) -> None:
        """Create the stream if missing; an existing one is left as its operator set it."""
        try:
            await js.stream_info(self.stream)
        except NotFoundError:
            await js.add_stream(
                StreamConfig(
                    name=self.stream,
                    subjects=[f"{self.subject_prefix}.>"],
                    duplicate_window=self._duplicate_window,
                )
            )

    async def publish(self, record: OutboxRecord) -> bool:
        try:
            js = await self._jetstream()
            ack = await js.publish(
                subject_for(self.subject_prefix, record.type),
                encoded(cloudevent(record, self._source)),
                headers={"Nats-Msg-Id": record.id},
            )
        except (NatsError, OSError, TimeoutError) as error:
            await self.close()  # the next publish connects afresh
            raise BrokerUnavailable(f"cannot publish to {self._url}: {error!r}") from error
        return bool(ack.duplicate)

    async def close(self) -> None:
        client, self._client, self._js = self._client, None, None
        if client is not None and not client.is_closed:
            # Closing a connection that already failed may fail too; it is gone either way.
            with contextlib.suppress(NatsError, OSError):
                await client.close()
