"""Stockroom behind PgBouncer in transaction mode, as an operator runs it: a real
`stockroom serve` process, real clients, every answer checked.

Transaction pooling is where a driver's prepared statements go wrong *quietly*: a statement
prepared on one server connection and run on another answers for somebody else. So the mixed
load checks every body (``/users/me`` is the token's own account, an item read is that item,
an order is the buyer's), not just the status. The restart test stops the pooler under load
and brings it back: 503s with Retry-After meanwhile, then recovery, with nothing lost and
nothing done twice.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from adapters.database import Database
from adapters.postgres import Pooler
from tests.integration.failure_support import outside_connection, scalar, stock
from tests.integration.servers import PgBouncer, live_client, stockroom_serve
from tests.integration.test_many_hosts import seed, serve_settings
from tests.polling import eventually

pytestmark = pytest.mark.postgres

MIXED_LOAD_SECONDS = 20.0
CLIENTS = 24
ITEMS = 200


@pytest.fixture
def database(fresh_postgres: Database) -> Database:
    return fresh_postgres  # of the test's own: the servers here are other processes


@dataclass
class Tally:
    answers: int = 0
    errors: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)


async def _mixed_client(
    client: httpx.AsyncClient,
    base: str,
    users: list[tuple[int, str]],
    deadline: float,
    tally: Tally,
) -> None:
    while time.monotonic() < deadline:
        user_id, token = random.choice(users)
        auth = {"Authorization": f"Bearer {token}"}
        roll = random.random()
        item = random.randint(1, ITEMS)
        try:
            if roll < 0.35:
                answer = await client.get(f"{base}/users/me", headers=auth)
                ok = answer.status_code == 200 and answer.json()["id"] == user_id
            elif roll < 0.7:
                answer = await client.get(f"{base}/items/{item}")
                body = answer.json()
                ok = answer.status_code == 200 and (body["id"], body["sku"]) == (item, f"I-{item}")
            elif roll < 0.8:
                answer = await client.get(f"{base}/items/?skip={item}&limit=5")
                ids = [row["id"] for row in answer.json()]
                ok = (
                    answer.status_code == 200 and ids == list(range(item + 1, item + 6))[: len(ids)]
                )
            else:
                line = {"sku": f"I-{item}", "quantity": 1}
                answer = await client.post(f"{base}/orders/", json={"lines": [line]}, headers=auth)
                body = answer.json()
                ok = answer.status_code == 201 and body["customer_id"] == user_id
                ok = ok and [line["item_id"] for line in body["lines"]] == [item]
        except httpx.HTTPError as error:
            tally.errors.append(f"{type(error).__name__}: {error}")
            continue
        tally.answers += 1
        if answer.status_code >= 400:
            tally.errors.append(
                f"{answer.request.method} {answer.request.url}: {answer.status_code}"
            )
        elif not ok:
            tally.wrong.append(f"{answer.request.method} {answer.request.url}: {answer.text[:200]}")


async def test_a_mixed_load_through_the_pooler_gets_only_right_answers(
    database: Database, pgbouncer_transaction: PgBouncer, tmp_path: Path
) -> None:
    tokens = await seed(database, 16, **{f"I-{n}": 10**8 for n in range(1, ITEMS + 1)})
    users = list(enumerate(tokens, start=1))
    settings = serve_settings(
        pgbouncer_transaction.url(database.url.database or ""), Pooler.TRANSACTION
    )
    tally = Tally()
    with stockroom_serve(settings, tmp_path, workers=2) as base:
        # A load of a set length: the length is the scenario, nothing waits on it.
        deadline = time.monotonic() + MIXED_LOAD_SECONDS
        async with live_client(timeout=30) as client:
            await asyncio.gather(
                *(_mixed_client(client, base, users, deadline, tally) for _ in range(CLIENTS))
            )

    assert tally.errors == [], f"{len(tally.errors)} errors, first: {tally.errors[:5]}"
    assert tally.wrong == [], f"{len(tally.wrong)} wrong answers, first: {tally.wrong[:5]}"
    assert tally.answers > 500, "the load hardly ran"


@dataclass
class Buyer:
    """A polite client: one Idempotency-Key per purchase, the same key again after a 503."""

    token: str
    completed: list[tuple[str, int]] = field(default_factory=list)  # (key, order id)
    unavailable: int = 0
    unexpected: list[str] = field(default_factory=list)

    async def run(self, client: httpx.AsyncClient, base: str, purchases: int) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        while len(self.completed) < purchases:
            key = f"k-{uuid.uuid4().hex}"
            while True:
                try:
                    answer = await client.post(
                        f"{base}/orders/",
                        json={"lines": [{"sku": "STOCK", "quantity": 1}]},
                        headers={**headers, "Idempotency-Key": key},
                    )
                except httpx.HTTPError as error:
                    self.unexpected.append(f"{type(error).__name__}: {error}")
                    await asyncio.sleep(0.1)  # a polite client's back-off
                    continue
                if answer.status_code == 201:
                    self.completed.append((key, answer.json()["id"]))
                    break
                if answer.status_code == 503 and answer.headers.get("retry-after"):
                    self.unavailable += 1
                    await asyncio.sleep(0.1)  # a polite client's back-off (shorter than asked)
                    continue
                self.unexpected.append(f"{answer.status_code}: {answer.text[:200]}")
                break


async def test_a_pooler_restart_under_load_is_503s_then_recovery_with_nothing_lost(
    database: Database, own_pgbouncer: PgBouncer, tmp_path: Path
) -> None:
    tokens = await seed(database, 8, STOCK=10_000)
    buyers = [Buyer(token) for token in tokens]
    settings = serve_settings(own_pgbouncer.url(database.url.database or ""), Pooler.TRANSACTION)
    with stockroom_serve(settings, tmp_path, workers=2) as base:
        async with live_client(timeout=30) as client:
            load = asyncio.gather(*(buyer.run(client, base, purchases=40) for buyer in buyers))
            # The restart comes once the load is under way (every buyer has bought)...
            await eventually(lambda: all(buyer.completed for buyer in buyers), 60)
            await asyncio.to_thread(own_pgbouncer.stop)
            # ...and the pooler stays down until every buyer has been told to come back later.
            await eventually(lambda: all(buyer.unavailable for buyer in buyers), 60)
            await asyncio.to_thread(own_pgbouncer.start)
            await asyncio.wait_for(load, 120)

    assert [text for buyer in buyers for text in buyer.unexpected] == []
    assert sum(buyer.unavailable for buyer in buyers) > 0, "the restart was never noticed"
    completed = [order for buyer in buyers for order in buyer.completed]
    assert len(completed) == 8 * 40
    assert len({key for key, _ in completed}) == len(completed)
    # Every 201 is a committed order, and no purchase happened twice (a retried key that had
    # committed before its connection died answers with the same order).
    assert await scalar(database, "SELECT count(*) FROM orders") == len(completed)
    assert {order_id for _, order_id in completed} == set(await _order_ids(database)), (
        "the orders stored are not the ones the clients were told about"
    )
    assert await stock(database) == {"STOCK": 10_000 - len(completed)}


async def _order_ids(database: Database) -> list[int]:
    async with outside_connection(database) as connection:
        return [row[0] for row in await connection.execute(text("SELECT id FROM orders"))]


async def test_serve_with_the_setting_unset_behind_the_pooler_runs_safely(
    database: Database, pgbouncer_transaction: PgBouncer, tmp_path: Path
) -> None:
    """An operator who forgets STOCKROOM_DATABASE_POOLER: `serve` notices the pooler and runs
    as for transaction pooling, rather than let answers cross."""
    tokens = await seed(database, 8, **{f"I-{n}": 10**8 for n in range(1, ITEMS + 1)})
    users = list(enumerate(tokens, start=1))
    settings = serve_settings(pgbouncer_transaction.url(database.url.database or ""), Pooler.NONE)
    del settings["STOCKROOM_DATABASE_POOLER"]
    tally = Tally()
    with stockroom_serve(settings, tmp_path, workers=2) as base:
        deadline = time.monotonic() + 5  # a load of a set length, as above
        async with live_client(timeout=30) as client:
            await asyncio.gather(
                *(_mixed_client(client, base, users, deadline, tally) for _ in range(CLIENTS))
            )

    assert (tally.errors, tally.wrong) == ([], [])
    assert tally.answers > 100, "the load hardly ran"
    log = "".join(p.read_text() for p in tmp_path.glob("serve-*.log"))  # noqa: ASYNC240
    assert "STOCKROOM_DATABASE_POOLER is not set" in log
