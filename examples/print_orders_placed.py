"""A service of someone else's that learns of Stockroom's orders: a durable JetStream consumer
printing each order placed, once.

    STOCKROOM_EVENTS_URL=nats://127.0.0.1:4222 python examples/print_orders_placed.py

Needs only nats-py (no Stockroom code: this is the consumer's side of the contract,
docs/events.md, "The consumer's contract"). Each message is a CloudEvents 1.0 JSON event.
Delivery is at least once, so the consumer dedupes by the event's ``id``: a real one keeps
the ids it handled with what it did (in its own database, in the same transaction); this one
keeps them in memory. The consumer is durable (``--name``): stopped and started again, it goes
on after the last event it acknowledged. ``--until-idle``: stop once nothing new came for a
second (for the test).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys

import nats
from nats.errors import TimeoutError as NoMessages


def order_line(event: dict[str, object]) -> str:
    data = event["data"]
    assert isinstance(data, dict)
    return f"order {data['id']} placed: total {data.get('total', '?')} (event {event['id']})"


async def consume(name: str, until_idle: bool) -> None:
    url = os.environ.get("STOCKROOM_EVENTS_URL", "nats://127.0.0.1:4222")
    stream = os.environ.get("STOCKROOM_EVENTS_STREAM", "STOCKROOM")
    prefix = os.environ.get("STOCKROOM_EVENTS_SUBJECT_PREFIX", "stockroom")
    client = await nats.connect(url)
    try:
        js = client.jetstream()
        # Durable: the server remembers what this consumer acknowledged, across restarts.
        orders = await js.pull_subscribe(f"{prefix}.order.placed", durable=name, stream=stream)
        seen: set[str] = set()
        while True:
            try:
                messages = await orders.fetch(batch=100, timeout=1)
            except NoMessages:
                if until_idle:
                    return
                continue
            for message in messages:
                event = json.loads(message.data)
                # The type, not the subject: the subject's prefix is the deployment's choice.
                if event.get("type") == "stockroom.order.placed" and event["id"] not in seen:
                    seen.add(event["id"])
                    print(order_line(event), flush=True)
                await message.ack()  # after handling it: a crash before redelivers it
    finally:
        await client.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", default="print-orders-placed", help="the durable's name")
    parser.add_argument("--until-idle", action="store_true", help="stop when nothing comes")
    arguments = parser.parse_args()
    try:
        asyncio.run(consume(arguments.name, arguments.until_idle))
    except KeyboardInterrupt:
        return 0
    except OSError as error:
        print(f"cannot reach NATS: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
