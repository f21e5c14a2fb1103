"""``stockroom relay`` as the operator runs it, a process of its own, against the real NATS
server: killed between the broker's acknowledgement and its mark, stopped by SIGTERM, and
started while the broker is unreachable."""

from __future__ import annotations

import signal
import subprocess

import httpx

from adapters.database import Database
from tests.integration.cli_support import Target
from tests.integration.relay_support import (
    Broker,
    add_rows,
    ids_by_position,
    published_count,
    rows_for_orders,
    start_relay,
)
from tests.integration.servers import free_port
from tests.polling import eventually

BACKLOG_ORDERS = 1_500  # 3,000 rows: six batches, the relay is caught mid-batch


async def test_a_relay_killed_between_publish_and_mark_leaves_each_event_once(
    fresh_database: Database, broker: Broker, relays: list[subprocess.Popen[str]]
) -> None:
    target = Target.of(fresh_database)
    await add_rows(fresh_database, rows_for_orders(BACKLOG_ORDERS))
    relays.append(start_relay(target, **broker.settings()))

    # Published but not marked yet: the stream is ahead of the outbox's marks.
    async def stream_ahead_of_marks() -> bool:
        return await broker.count() > await published_count(fresh_database)

    await eventually(stream_ahead_of_marks, seconds=30)
    relays[0].send_signal(signal.SIGKILL)
    relays[0].wait(timeout=30)
    unmarked = await broker.count() - await published_count(fresh_database)
    assert unmarked > 0, "the kill was meant to fall between a publish and its mark"

    relays.append(start_relay(target, **broker.settings()))  # takes over once the lease ends

    async def drained() -> bool:
        return await published_count(fresh_database) == 2 * BACKLOG_ORDERS

    await eventually(drained, seconds=60)
    messages = await broker.messages()
    assert [m.msg_id for m in messages] == await ids_by_position(fresh_database)


async def test_an_unreachable_broker_keeps_the_rows_and_sigterm_stops_the_relay(
    fresh_database: Database, broker: Broker, relays: list[subprocess.Popen[str]]
) -> None:
    target = Target.of(fresh_database)
    await add_rows(fresh_database, rows_for_orders(20))
    relays.append(start_relay(target, **broker.settings(f"nats://127.0.0.1:{free_port()}")))

    output = relays[0].stdout
    assert output is not None
    line = output.readline()
    while "retrying" not in line:  # it tried, failed, and waits to try again
        assert line, "the relay ended before it reported a failed publish"
        line = output.readline()
    relays[0].send_signal(signal.SIGTERM)
    assert relays[0].wait(timeout=30) == 0, relays[0].communicate()[0]
    assert await published_count(fresh_database) == 0

    port = free_port()
    # The broker is reachable again; this relay also serves its metrics.
    relays.append(start_relay(target, "--metrics-port", str(port), **broker.settings()))

    async def drained() -> bool:
        return await published_count(fresh_database) == 40

    await eventually(drained, seconds=30)
    messages = await broker.messages()
    assert [m.msg_id for m in messages] == await ids_by_position(fresh_database)

    async def backlog_measured_empty() -> bool:
        return "stockroom_outbox_backlog 0.0" in await metrics(port)

    await eventually(backlog_measured_empty)  # measured once a second
    assert 'stockroom_events_published_total{duplicate="false"} 40.0' in await metrics(port)


async def metrics(port: int) -> str:
    async with httpx.AsyncClient() as client:
        return (await client.get(f"http://127.0.0.1:{port}/metrics")).text
