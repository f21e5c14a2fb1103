"""How fast the outbox relay drains a backlog: 100,000 unsent rows, seeded with SQLAlchemy
Core into a throwaway database migrated by ``stockroom db upgrade``, relayed by the real
``Relay`` (``SqlRelayOutbox`` + ``JetStreamPublisher``) to the NATS server at
``BENCH_NATS_URL`` (default nats://127.0.0.1:4222), into a stream of the run's own (its own
name and subject prefix, so it overlaps no other stream), deleted afterwards.

The backlog is the shape the shop writes: an ``order.placed`` per order, and for one order in
ten an ``order.cancelled`` a few rows later (same subject, so the per-order order is in play).
The clock starts when the relay starts and stops when no row is unsent; the stream's message
count is checked against the rows seeded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import nats
from sqlalchemy import insert, select

from adapters.database import Database
from adapters.nats_publisher import JetStreamPublisher
from adapters.orm import outbox
from adapters.outbox_store import SqlRelayOutbox
from bench.cases import ADMIN_URL, PG, SQLITE, URLS
from service_layer.relay import Relay, RelayPolicy

REPO = Path(__file__).resolve().parent.parent
NATS_URL = os.environ.get("BENCH_NATS_URL", "nats://127.0.0.1:4222")
SEED_CHUNK = 5_000  # rows per executemany


def _psql(statement: str) -> None:
    subprocess.run(["psql", ADMIN_URL, "-qAtc", statement], check=True, stdout=subprocess.PIPE)


@contextlib.contextmanager
def throwaway_database(database: str, workdir: Path) -> Iterator[str]:
    """A fresh, migrated database; its STOCKROOM_DATABASE_URL. Dropped (or deleted) after."""
    name = f"stockroom_bench_{secrets.token_hex(4)}"
    if database == PG:
        _psql(f'CREATE DATABASE "{name}"')
        url = URLS[PG].format(database=name)
    else:
        url = URLS[SQLITE].format(database=workdir / f"{name}.db")
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("STOCKROOM_")}
        env |= {"STOCKROOM_DATABASE_URL": url, "STOCKROOM_SECRET_KEY": secrets.token_hex(32)}
        upgrade = [str(REPO / ".venv/bin/stockroom"), "db", "upgrade"]
        subprocess.run(upgrade, env=env, cwd=REPO, check=True, stdout=subprocess.DEVNULL)
        yield url
    finally:
        if database == PG:
            _psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def backlog_rows(count: int, now: datetime) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    order = 0
    for number in range(count):
        if number % 11 == 10:  # one order in ten is cancelled, ten rows after its placing
            subject, kind = f"orders/{order - 9}", "order.cancelled"
        else:
            order += 1
            subject, kind = f"orders/{order}", "order.placed"
        data = {"id": int(subject.split("/")[1]), "customer_id": 1, "total": "108.99"}
        rows.append(
            {
                "id": str(uuid.uuid4()),
                "type": kind,
                "subject": subject,
                "data": json.dumps(data, separators=(",", ":")),
                "occurred_at": now,
                "published_at": None,
                "dispatched_at": now,  # the in-process dispatcher is not what is measured
            }
        )
    return rows


async def seed_backlog(database: Database, count: int) -> None:
    rows = backlog_rows(count, datetime.now(UTC))
    async with database.engine.begin() as connection:
        for start in range(0, count, SEED_CHUNK):
            await connection.execute(insert(outbox), rows[start : start + SEED_CHUNK])


async def any_unsent(database: Database) -> bool:
    """The first unsent row by the relay's own partial index: cheap enough to ask often."""
    query = select(outbox.c.position).where(outbox.c.published_at.is_(None)).limit(1)
    async with database.engine.connect() as connection:
        return (await connection.execute(query)).first() is not None


@contextlib.asynccontextmanager
async def own_stream() -> AsyncIterator[tuple[str, str]]:
    """A stream name and subject prefix of the run's own; the stream is deleted after."""
    tag = secrets.token_hex(4)
    stream, prefix = f"BENCH_EVENTS_{tag.upper()}", f"bench_events_{tag}"
    try:
        yield stream, prefix
    finally:
        client = await nats.connect(NATS_URL)
        with contextlib.suppress(Exception):  # never created: nothing to delete
            await client.jetstream().delete_stream(stream)
        await client.close()


async def stream_messages(stream: str) -> int:
    client = await nats.connect(NATS_URL)
    try:
        return int((await client.jetstream().stream_info(stream)).state.messages)
    finally:
        await client.close()


@dataclass(frozen=True)
class Drain:
    database: str
    in_flight: int  # the relay's window: 1 is one publish at a time, as before issue 25's bench
    events: int
    seconds: float
    in_stream: int

    @property
    def rate(self) -> float:
        return self.events / self.seconds


async def drain(database_name: str, url: str, events: int, in_flight: int) -> Drain:
    database = Database(url)
    try:
        await seed_backlog(database, events)
        async with own_stream() as (stream, prefix):
            publisher = JetStreamPublisher(NATS_URL, stream=stream, subject_prefix=prefix)
            # The clock includes connecting and creating the stream (milliseconds, once).
            relay = Relay(
                SqlRelayOutbox(database),
                publisher,
                RelayPolicy(in_flight=in_flight, lease=timedelta(seconds=30)),
            )
            stop = asyncio.Event()
            started = time.perf_counter()
            running = asyncio.create_task(relay.run(stop))
            while await any_unsent(database):
                if running.done():
                    running.result()  # the relay failed: say why
                await asyncio.sleep(0.05)
            seconds = time.perf_counter() - started
            stop.set()
            await running
            await publisher.close()
            in_stream = await stream_messages(stream)
            return Drain(database_name, in_flight, events, seconds, in_stream)
    finally:
        await database.dispose()
