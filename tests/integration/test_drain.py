"""Drain under load: SIGTERM to a real ``stockroom serve --workers 2 --graceful-timeout 15``
while clients place orders, on a PostgreSQL database of the test's own (created and dropped
here, so counting its connections counts this server's only).

Timeline: clients place orders as fast as they are answered; once the load runs, two slow
requests are opened and seen to be in the app's hands (an order whose body has not arrived,
and a readiness probe whose chunked body has not ended: the body guard holds it until the
end, so its route runs after the signal); SIGTERM goes to the server's process group; once
both workers log that they are shutting down, the slow bodies arrive. Then:

- no 5xx, and no answer but 201: a request may fail at the transport level, but only from
  the signal on (uvicorn closes idle keep-alive connections and stops accepting);
- every 201 is a committed order and every committed order was answered 201 (ids, and the
  Idempotency-Key each request carried);
- readiness turned 503 at once: the probe in flight answers 503 "shutting down" (the same
  probe answered 200 before the signal);
- requests in flight finish: the slow order gets its 201 within the grace period;
- both workers end their lifespan (the pools are disposed), the whole process group exits,
  and no connection of the database is left in ``pg_stat_activity``.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from tests.integration.cli_support import STOCKROOM, stockroom
from tests.integration.conftest import POSTGRES_URL, postgres_unavailable
from tests.integration.drain_support import HeldRequest, Server, live_group_members
from tests.integration.failure_support import asyncpg_dsn
from tests.integration.servers import free_port, live_client
from tests.polling import eventually

pytestmark = pytest.mark.postgres

GRACE_SECONDS = 15
SECRET_KEY = "drain-test-signing-key-" + "d" * 32
ADMIN = ("admin@example.com", "drain admin password")
CUSTOMER = ("buyer@example.com", "drain customer password")
SKU = "DRAIN-1"
CLIENTS = 8
ORDERS_BEFORE_THE_SIGNAL = 50
DEADLINE_SECONDS = 60.0  # for anything the test waits on; a loaded machine is slow
PURCHASE = {"lines": [{"sku": SKU, "quantity": 1}]}


@pytest.fixture
async def database_url() -> AsyncIterator[str]:
    """A throwaway database on the test server, dropped afterwards."""
    name = f"stockroom_test_drain_{uuid.uuid4().hex[:10]}"
    try:
        admin = await asyncpg.connect(asyncpg_dsn(POSTGRES_URL), timeout=10)
    except (OSError, asyncpg.PostgresError) as error:
        postgres_unavailable(str(error))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[Server]:
    for args, settings in [
        (("db", "upgrade"), {}),
        (("users", "create-admin", ADMIN[0]), {"admin_password": ADMIN[1]}),
    ]:
        done = stockroom(*args, url=database_url, secret_key=SECRET_KEY, **settings)
        assert done.returncode == 0, f"stockroom {' '.join(args)}:\n{done.stdout}{done.stderr}"
    port = free_port()
    log_path = tmp_path / "serve.log"
    command = [STOCKROOM, "serve", "--port", str(port), "--workers", "2"]
    command += ["--graceful-timeout", str(GRACE_SECONDS)]
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 - our own console script
            command,
            cwd=tmp_path,
            env=_serve_env(database_url),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the signal reaches all workers
        )
    server = Server(process, port, log_path)
    try:
        _wait_until_ready(server)
        yield server
    finally:
        # Whatever the test did: nothing of the group survives it.
        if live_group_members(process.pid):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


def _serve_env(url: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("STOCKROOM_")}
    # Metrics on a free port, not the default 9464 another server on this machine may hold.
    return {
        **env,
        "STOCKROOM_DATABASE_URL": url,
        "STOCKROOM_SECRET_KEY": SECRET_KEY,
        "STOCKROOM_METRICS_PORT": "0",
    }


def _wait_until_ready(server: Server) -> None:
    """Readiness is what a load balancer waits for; both workers answer it once up."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        try:
            if httpx.get(f"{server.base_url}/health/ready", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or server.process.poll() is not None:
            pytest.fail(f"stockroom serve did not become ready:\n{server.log_text()[-3000:]}")
        time.sleep(0.1)


@dataclass
class Outcome:
    key: str
    started: float
    ended: float = 0.0
    status: int | None = None
    order_id: int | None = None
    error: str | None = None


async def _buyer(number: int, client: httpx.AsyncClient, token: str, out: list[Outcome]) -> None:
    """Orders one after another, until the server is gone for this client."""
    headers = {"Authorization": f"Bearer {token}"}
    sent = 0
    while True:
        sent += 1
        outcome = Outcome(f"drain-{number}-{sent}", started=time.monotonic())
        out.append(outcome)
        try:
            response = await client.post(
                "/orders/", json=PURCHASE, headers={**headers, "Idempotency-Key": outcome.key}
            )
        except httpx.TransportError as error:
            outcome.error = f"{type(error).__name__}: {error}"
            outcome.ended = time.monotonic()
            return
        outcome.ended = time.monotonic()
        outcome.status = response.status_code
        if response.status_code == 201:
            outcome.order_id = response.json()["id"]


async def _token(client: httpx.AsyncClient, email: str, password: str) -> str:
    response = await client.post("/token", data={"username": email, "password": password})
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


async def _prepare(client: httpx.AsyncClient) -> str:
    """An item with stock enough for any load, and a customer; the customer's token."""
    admin = await _token(client, *ADMIN)
    item = {"title": "Drain", "sku": SKU, "price": 1.5, "quantity": 1_000_000}
    created = await client.post("/items/", json=item, headers={"Authorization": f"Bearer {admin}"})
    assert created.status_code == 201, created.text
    account = {"email": CUSTOMER[0], "password": CUSTOMER[1]}
    assert (await client.post("/users/", json=account)).status_code == 201
    return await _token(client, *CUSTOMER)


async def _held_readiness(port: int) -> HeldRequest:
    return await HeldRequest.open(port, "GET", "/health/ready", {"Transfer-Encoding": "chunked"})


async def _held_order(port: int, token: str) -> HeldRequest:
    headers = {
        "Authorization": f"Bearer {token}",
        "Idempotency-Key": "drain-slow",
        "Content-Type": "application/json",
        "Content-Length": str(len(json.dumps(PURCHASE).encode())),
    }
    return await HeldRequest.open(port, "POST", "/orders/", headers)


def _in_pieces(data: bytes, count: int) -> list[bytes]:
    size = -(-len(data) // count)
    return [data[start : start + size] for start in range(0, len(data), size)]


async def _connections_of(url: str) -> int:
    """Sessions of the test's database, counted from another database."""
    admin = await asyncpg.connect(asyncpg_dsn(POSTGRES_URL), timeout=10)
    try:
        query = "SELECT count(*) FROM pg_stat_activity WHERE datname = $1"
        return int(await admin.fetchval(query, make_url(url).database))
    finally:
        await admin.close()


async def _committed_orders(url: str) -> dict[int, str | None]:
    """Order id -> the Idempotency-Key it was placed with."""
    connection = await asyncpg.connect(asyncpg_dsn(url), timeout=10)
    try:
        rows = await connection.fetch(
            "SELECT o.id, k.key FROM orders o LEFT JOIN idempotency_keys k ON k.order_id = o.id"
        )
    finally:
        await connection.close()
    return {row["id"]: row["key"] for row in rows}


async def test_sigterm_under_load_drains_without_losing_or_inventing_orders(
    server: Server, database_url: str
) -> None:
    timeout = httpx.Timeout(GRACE_SECONDS + DEADLINE_SECONDS)  # longer than any drain
    max_connections = CLIENTS + 2
    async with live_client(
        base_url=server.base_url, timeout=timeout, max_connections=max_connections
    ) as client:
        token = await _prepare(client)
    # The probe held the same way answers 200 while the server runs: a 503 later is the drain.
    before = await (await _held_readiness(server.port)).finish([b"0\r\n\r\n"])
    assert (before.status, before.body) == (
        200,
        {"status": "ready", "database": "ok", "replicas": {}},
    )
    assert await _connections_of(database_url) > 0, "the workers hold no connection to drain"

    outcomes: list[Outcome] = []
    async with (
        asyncio.timeout(GRACE_SECONDS + 2 * DEADLINE_SECONDS),
        live_client(
            base_url=server.base_url, timeout=timeout, max_connections=max_connections
        ) as client,
        asyncio.TaskGroup() as load,
    ):
        for number in range(CLIENTS):
            load.create_task(_buyer(number, client, token, outcomes))
        await eventually(
            lambda: sum(o.status == 201 for o in outcomes) >= ORDERS_BEFORE_THE_SIGNAL,
            DEADLINE_SECONDS,
        )
        slow_order = await _held_order(server.port, token)
        slow_probe = await _held_readiness(server.port)

        signalled = time.monotonic()
        os.killpg(server.process.pid, signal.SIGTERM)
        await eventually(lambda: server.log_text().count("Shutting down") >= 2, DEADLINE_SECONDS)
        probe = await slow_probe.finish([b"0\r\n\r\n"])
        order = await slow_order.finish(_in_pieces(json.dumps(PURCHASE).encode(), 3), pause=0.3)
        # The buyers end on their own: once the server is gone, each gets a transport error.

    exit_code = await asyncio.to_thread(server.process.wait, GRACE_SECONDS + DEADLINE_SECONDS)
    log = server.log_text()
    context = f"\nserver log (end):\n{log[-4000:]}"

    # Readiness turned 503 at once; the slow order, in flight all along, finished in time.
    assert (probe.status, probe.body) == (503, {"detail": "shutting down"}), context
    assert order.status == 201, f"{order}{context}"
    # In time: no worker reached --graceful-timeout and cut a request off.
    assert "timeout graceful shutdown exceeded" not in log, context

    # Nothing but 201s; transport failures only once the drain had begun.
    answered = [o for o in outcomes if o.status is not None]
    assert [o for o in answered if o.status != 201] == [], "answers other than 201" + context
    early = [o for o in outcomes if o.error is not None and o.ended < signalled]
    assert early == [], "transport errors before the signal" + context
    straddling = [o for o in answered if o.started < signalled < o.ended]
    assert straddling, "no order of the load was in flight at the signal: nothing was drained"

    # Every 201 is a committed order, and every committed order was answered 201.
    told = {o.order_id: o.key for o in answered}
    told[order.body["id"]] = "drain-slow"
    assert await _committed_orders(database_url) == told

    # A clean exit: both lifespans ended (pools disposed), no process or connection is left.
    assert exit_code == 0, context
    assert log.count("Application shutdown complete.") == 2, context
    assert "Traceback" not in log, context
    await eventually(lambda: not live_group_members(server.process.pid), DEADLINE_SECONDS)

    # A backend may take a moment to notice its client said goodbye.
    async def no_connection_left() -> bool:
        return await _connections_of(database_url) == 0

    await eventually(no_connection_left, DEADLINE_SECONDS)
    left = await _connections_of(database_url)
    assert left == 0, f"{left} connection(s) of the database left after the drain"
