"""For issue 25's acceptance and fault tests: a shop to order from (a customer's token, items),
a ``stockroom serve`` whose pid the test holds (to SIGKILL it right after a commit), orders
placed over HTTP by several clients at once, and what the outbox holds."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import httpx
from sqlalchemy import func, select

from adapters.database import Database
from adapters.orm import event_handling, outbox
from adapters.passwords import Argon2PasswordHasher
from adapters.tokens import JwtTokenCodec
from domain.item import Item
from service_layer.services import users as user_services
from tests.conftest import FAST_ARGON2
from tests.integration.servers import STOCKROOM, free_port, wait_until_serving
from tests.integration.units import unit_of_work

SECRET_KEY = "events-acceptance-key-" + "0123456789abcdef" * 3


async def customer_token(database: Database) -> str:
    """A customer's bearer token, the account made through the services."""
    hasher = Argon2PasswordHasher(**FAST_ARGON2)
    email = f"buyer-{secrets.token_hex(3)}@example.com"
    customer = await user_services.register(unit_of_work(database), hasher, email, "pw-12345678")
    codec = JwtTokenCodec(SECRET_KEY, timedelta(minutes=30))
    return codec.issue(customer.id, "customer", credentials_version=customer.credentials_version)


async def add_item(database: Database, sku: str, quantity: int) -> None:
    """An item as the catalog creates one (it records ``item.created`` in the outbox)."""
    async with unit_of_work(database) as uow:
        item = Item.create(sku=sku, title=f"Item {sku}", price=Decimal("2.50"), quantity=quantity)
        await uow.items.add(item)
        await uow.commit()


def serve_settings(database: Database, **settings: str) -> dict[str, str]:
    """The environment of a ``stockroom serve`` on ``database``: ``settings`` by lower-case
    name without the ``STOCKROOM_`` prefix, as ``relay_support.Broker.settings`` gives them."""
    return {
        "STOCKROOM_DATABASE_URL": database.url.render_as_string(hide_password=False),
        "STOCKROOM_SECRET_KEY": SECRET_KEY,
        **{f"STOCKROOM_{name.upper()}": value for name, value in settings.items()},
    }


@dataclass
class Served:
    base: str
    process: subprocess.Popen[bytes]


@contextmanager
def serve_process(settings: Mapping[str, str], folder: Path) -> Iterator[Served]:
    """``stockroom serve`` with one worker, which runs the app in the serve process itself: its
    pid is the app's, for a test that kills the app (``servers.stockroom_serve`` keeps the pid
    to itself). Stopped by that pid afterwards if still running."""
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("STOCKROOM_")}
    env |= {"STOCKROOM_DRAIN_SECONDS": "0", "STOCKROOM_METRICS_PORT": str(free_port())}
    env |= settings
    log_path = folder / f"serve-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 - our own console script
            [STOCKROOM, "serve", "--port", str(port), "--workers", "1"],
            cwd=folder,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    served = Served(f"http://127.0.0.1:{port}", process)
    try:
        wait_until_serving(served.base, process, log_path)
        yield served
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        process.wait(timeout=15)


@dataclass
class Orders:
    """What several clients placing and cancelling orders were answered."""

    placed: list[int] = field(default_factory=list)  # ids of the orders answered 201
    cancelled: list[int] = field(default_factory=list)  # ids of the orders cancelled (200)
    refused: list[httpx.Response] = field(default_factory=list)  # any other answer


async def place_orders(
    base: str,
    token: str,
    sku: str,
    count: int,
    *,
    clients: int = 8,
    cancel_every: int = 0,
    into: Orders | None = None,
) -> Orders:
    """``count`` orders of one unit of ``sku``, by ``clients`` clients at once; every
    ``cancel_every``-th order (0: none) is cancelled by its client right after it is placed.
    A new connection for each request: the kernel spreads them over the server's workers."""
    orders = into if into is not None else Orders()
    numbers = iter(range(1, count + 1))
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_keepalive_connections=0)

    async def client_loop(client: httpx.AsyncClient) -> None:
        for number in numbers:  # one shared iterator: the clients take turns, none twice
            answer = await client.post("/orders/", json={"lines": [{"sku": sku, "quantity": 1}]})
            if answer.status_code != 201:
                orders.refused.append(answer)
                continue
            order_id = int(answer.json()["id"])
            orders.placed.append(order_id)
            if cancel_every and number % cancel_every == 0:
                cancelled = await client.post(f"/orders/{order_id}/cancel")
                if cancelled.status_code == 200:
                    orders.cancelled.append(order_id)
                else:
                    orders.refused.append(cancelled)

    async with httpx.AsyncClient(
        base_url=base, headers=headers, limits=limits, timeout=30
    ) as client:
        await asyncio.gather(*(client_loop(client) for _ in range(clients)))
    return orders


async def unpublished(database: Database) -> int:
    statement = select(func.count()).where(outbox.c.published_at.is_(None))
    async with database.engine.connect() as connection:
        return int(await connection.scalar(statement) or 0)


async def undispatched(database: Database) -> int:
    statement = select(func.count()).where(outbox.c.dispatched_at.is_(None))
    async with database.engine.connect() as connection:
        return int(await connection.scalar(statement) or 0)


async def positions_of(database: Database, event_type: str) -> list[int]:
    statement = select(outbox.c.position).where(outbox.c.type == event_type)
    async with database.engine.connect() as connection:
        return sorted((await connection.scalars(statement)).all())


async def handler_calls(database: Database) -> list[tuple[int, str, int, bool, bool]]:
    """Every recorded handler call: (position, handler, attempts, done, parked)."""
    statement = select(
        event_handling.c.position,
        event_handling.c.handler,
        event_handling.c.attempts,
        event_handling.c.done_at.is_not(None),
        event_handling.c.parked_at.is_not(None),
    ).order_by(event_handling.c.position)
    async with database.engine.connect() as connection:
        rows = (await connection.execute(statement)).all()
    return [(row[0], row[1], row[2], bool(row[3]), bool(row[4])) for row in rows]


async def ids_by_subject(database: Database) -> dict[str, list[str]]:
    """Each aggregate's (subject's) event ids in the order they were committed: by position,
    since two transactions changing one aggregate serialise on its row."""
    statement = select(outbox.c.subject, outbox.c.id).order_by(outbox.c.position)
    found: dict[str, list[str]] = {}
    async with database.engine.connect() as connection:
        for subject, event_id in (await connection.execute(statement)).all():
            found.setdefault(subject, []).append(event_id)
    return found
