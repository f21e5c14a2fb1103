"""examples/print_orders_placed.py run as its user runs it, against the real NATS server: it
prints each order placed once, even when the stream holds a re-publish, and a durable
consumer started again goes on where it left off."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.integration.relay_support import Broker

EXAMPLE = Path(__file__).parents[2] / "examples" / "print_orders_placed.py"


def consumer(broker: Broker, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("STOCKROOM_")}
    env |= {
        "STOCKROOM_EVENTS_URL": broker.url,
        "STOCKROOM_EVENTS_STREAM": broker.stream,
        "STOCKROOM_EVENTS_SUBJECT_PREFIX": broker.prefix,
    }
    return subprocess.run(  # noqa: S603 - our own example, with this interpreter
        [sys.executable, str(EXAMPLE), "--until-idle", "--name", "printer"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def publish(broker: Broker, event_id: str, event_type: str, order_id: int) -> None:
    """As the relay does, but without its dedupe: the stream holds what a consumer may see
    after a re-publish outside the duplicate window."""
    event = {
        "specversion": "1.0",
        "id": event_id,
        "source": "/stockroom",
        "type": f"stockroom.{event_type}",
        "subject": f"orders/{order_id}",
        "datacontenttype": "application/json",
        "data": {"id": order_id, "total": "8.00"},
    }
    await broker.client.jetstream().publish(
        f"{broker.prefix}.{event_type}", json.dumps(event).encode()
    )


async def test_the_consumer_prints_each_order_placed_once_and_resumes(
    broker: Broker, tmp_path: Path
) -> None:
    js = broker.client.jetstream()
    await js.add_stream(name=broker.stream, subjects=[f"{broker.prefix}.>"])
    await publish(broker, "e-1", "order.placed", 1)
    await publish(broker, "e-2", "order.cancelled", 1)  # not an order placed
    await publish(broker, "e-3", "order.placed", 2)
    await publish(broker, "e-3", "order.placed", 2)  # a re-publish: deduped by id

    first = consumer(broker, tmp_path)

    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == [
        "order 1 placed: total 8.00 (event e-1)",
        "order 2 placed: total 8.00 (event e-3)",
    ]

    await publish(broker, "e-4", "order.placed", 3)
    again = consumer(broker, tmp_path)  # durable: only what came since
    assert again.stdout.splitlines() == ["order 3 placed: total 8.00 (event e-4)"]
