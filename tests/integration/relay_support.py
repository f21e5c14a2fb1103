"""The real NATS server for the relay's tests: a stream and subject prefix of each test's own
(deleted afterwards, so runs and tests never see each other's messages), outbox rows written
straight into the table, and the stream's messages read back in order."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import nats
from nats.aio.client import Client
from nats.errors import Error as NatsError
from nats.js.errors import NotFoundError
from sqlalchemy import func, insert, select

from adapters.database import Database
from adapters.nats_publisher import JetStreamPublisher
from adapters.orm import outbox
from adapters.outbox_store import SqlRelayOutbox
from service_layer.relay import Relay, RelayPolicy
from tests.integration.cli_support import STOCKROOM, Target
from tests.integration.servers import unavailable

# Not a STOCKROOM_ variable: the app's settings refuse names they do not know.
NATS_URL = os.environ.get("TEST_NATS_URL", "nats://127.0.0.1:4222")


@dataclass(frozen=True)
class Message:
    seq: int
    subject: str
    msg_id: str
    event: dict[str, Any]


@dataclass
class Broker:
    """The run's NATS server, seen through one test's stream."""

    client: Client
    url: str
    stream: str
    prefix: str

    def publisher(self, url: str | None = None) -> JetStreamPublisher:
        return JetStreamPublisher(url or self.url, stream=self.stream, subject_prefix=self.prefix)

    def settings(self, url: str | None = None) -> dict[str, str]:
        """The STOCKROOM_ settings (lower-case names, for ``cli_support``) of a relay here."""
        return {
            "events_url": url or self.url,
            "events_stream": self.stream,
            "events_subject_prefix": self.prefix,
            "events_poll_ms": "20",
            "events_lease_seconds": "2",
        }

    async def count(self) -> int:
        try:
            info = await self.client.jetstream().stream_info(self.stream)
        except NotFoundError:  # the relay has not created it yet
            return 0
        return int(info.state.messages)

    async def messages(self) -> list[Message]:
        js = self.client.jetstream()
        info = await js.stream_info(self.stream)
        found = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            raw = await js.get_msg(self.stream, seq)
            assert raw.data is not None
            assert raw.subject is not None
            msg_id = (raw.headers or {}).get("Nats-Msg-Id", "")
            found.append(Message(seq, raw.subject, msg_id, json.loads(raw.data)))
        return found


async def connected_broker() -> AsyncIterator[Broker]:
    """For a test's ``broker`` fixture: fails in CI when NATS is missing, else skips."""
    try:
        client = await nats.connect(NATS_URL, connect_timeout=2, allow_reconnect=False)
    except (NatsError, OSError) as error:
        unavailable(f"NATS at {NATS_URL}", repr(error))
    suffix = uuid.uuid4().hex[:10]
    broker = Broker(client, NATS_URL, stream=f"TEST_{suffix}", prefix=f"test{suffix}")
    try:
        yield broker
    finally:
        with contextlib.suppress(NotFoundError):  # no relay ever created it
            await client.jetstream().delete_stream(broker.stream)
        await client.close()


@dataclass(frozen=True)
class Row:
    id: str
    type: str
    subject: str
    data: dict[str, Any]


def rows_for_orders(orders: int, *, start: int = 1) -> list[Row]:
    """Each order placed then cancelled, the orders interleaved (placed 1, placed 2, cancelled
    1, ...), so that a reorder across the batch boundary would show."""
    rows: list[Row] = []
    for order in range(start, start + orders):
        rows.append(Row(str(uuid.uuid4()), "order.placed", f"orders/{order}", {"id": order}))
    for order in range(start, start + orders):
        rows.append(Row(str(uuid.uuid4()), "order.cancelled", f"orders/{order}", {"id": order}))
    return rows


async def add_rows(database: Database, rows: Sequence[Row]) -> None:
    """Outbox rows as the unit of work writes them (one transaction: positions in order)."""
    now = datetime.now(UTC)
    values = [
        {
            "id": row.id,
            "type": row.type,
            "subject": row.subject,
            "data": json.dumps(row.data),
            "occurred_at": now,
        }
        for row in rows
    ]
    async with database.engine.begin() as connection:
        for start in range(0, len(values), 1000):  # under SQLite's bound-parameter limit
            await connection.execute(insert(outbox), values[start : start + 1000])


async def ids_by_position(database: Database) -> list[str]:
    async with database.engine.connect() as connection:
        return list((await connection.scalars(select(outbox.c.id).order_by("position"))).all())


async def published_count(database: Database) -> int:
    statement = select(func.count()).where(outbox.c.published_at.is_not(None))
    async with database.engine.connect() as connection:
        return int(await connection.scalar(statement) or 0)


def relay_of(database: Database, publisher: JetStreamPublisher, name: str = "test") -> Relay:
    policy = RelayPolicy(poll_interval=0.01, retry_first=0.01, retry_max=0.05)
    return Relay(SqlRelayOutbox(database), publisher, policy, name=name)


def start_relay(target: Target, *args: str, **settings: str) -> subprocess.Popen[str]:
    """``stockroom relay`` as a process of its own (stopped by the test, by its pid)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("STOCKROOM_")}
    env |= {f"STOCKROOM_{name.upper()}": value for name, value in settings.items()}
    env |= {"STOCKROOM_DATABASE_URL": target.url, "COLUMNS": "250", "NO_COLOR": "1"}
    return subprocess.Popen(  # noqa: S603 - our own console script
        [STOCKROOM, "relay", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
