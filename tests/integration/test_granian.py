"""``stockroom serve --server granian --workers 2`` on SQLite, as an operator runs it: it serves
reads and signed-in writes, its metrics listener adds up both workers (and the API's port has
no ``/metrics``), SIGTERM drains as under uvicorn,
a header section over STOCKROOM_MAX_HEADER_BYTES gets a 431, JSON logs stay JSON, and what
Granian cannot honour is refused with one line.

Where Granian differs from uvicorn, the test asserts Granian's behaviour and says so
(docs/deployment.md, "App hosts"): its 431 comes from hyper, with an empty body and no log
line; a request still running when --graceful-timeout ends gets its worker killed (uvicorn
cancels the request and still ends the lifespan).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.cli_support import STOCKROOM, stockroom
from tests.integration.drain_support import HeldRequest, Server, live_group_members
from tests.integration.servers import exchange_raw, free_port, live_client
from tests.polling import eventually

SECRET_KEY = "granian-signing-key-" + "0123456789abcdef" * 3
ADMIN = ("admin@example.com", "granian admin password")
KIB = 1024
MAX_HEADER_BYTES = 16 * KIB  # not the default: the test sees that the setting reaches hyper
DEADLINE_SECONDS = 60.0  # for anything the test waits on; a loaded machine is slow
WORKERS = 2
FIELDS = {"time", "level", "logger", "message", "request_id", "pid"}


@dataclass
class Served(Server):
    database: Path
    metrics_port: int

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def log_lines(self) -> list[dict[str, Any]]:
        """Every complete JSON line so far (the text after the last newline may be half a
        line); one that is not a JSON object fails the test."""
        lines = [json.loads(line) for line in self.log_text().split("\n")[:-1]]
        assert all(isinstance(line, dict) for line in lines)
        return lines


@contextmanager
def granian_serve(folder: Path, *args: str, **settings: str) -> Iterator[Served]:
    """``stockroom serve --server granian --workers 2`` on a SQLite file in ``folder`` (an
    admin made first), in a process group of its own; yields it once both workers are up."""
    database = folder / "stockroom.db"
    url = f"sqlite+aiosqlite:///{database}"
    made = stockroom("users", "create-admin", ADMIN[0], url=url, admin_password=ADMIN[1])
    assert made.returncode == 0, made.stderr
    env = {key: value for key, value in os.environ.items() if not key.startswith("STOCKROOM_")}
    env |= {"STOCKROOM_DATABASE_URL": url, "STOCKROOM_SECRET_KEY": SECRET_KEY}
    env |= {"STOCKROOM_DRAIN_SECONDS": "0"}  # no balancer to tell: stopped, it stops at once
    metrics_port = free_port()
    env |= {"STOCKROOM_METRICS_PORT": str(metrics_port)}
    env |= {f"STOCKROOM_{name.upper()}": value for name, value in settings.items()}
    port = free_port()
    command = [STOCKROOM, "serve", "--server", "granian", "--port", str(port)]
    command += ["--workers", str(WORKERS), *args]
    log_path = folder / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 - our own console script
            command,
            cwd=folder,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group: nothing of it can outlive the test
        )
    served = Served(process, port, log_path, database, metrics_port)
    try:
        _wait_until_ready(served)
        yield served
    finally:
        if live_group_members(process.pid):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


def _wait_until_ready(served: Served) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        try:
            ready = httpx.get(f"{served.base_url}/health/ready", timeout=2).status_code == 200
        except httpx.TransportError:
            ready = False
        if ready and all(f"Started worker-{n}" in served.log_text() for n in (1, 2)):
            return
        if time.monotonic() > deadline or served.process.poll() is not None:
            pytest.fail(f"stockroom serve did not become ready:\n{served.log_text()[-3000:]}")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One server for the tests that leave it running: JSON logs, a 16 KiB header limit."""
    folder = tmp_path_factory.mktemp("granian")
    limit = str(MAX_HEADER_BYTES)
    with granian_serve(folder, log_format="json", max_header_bytes=limit) as server:
        yield server


async def _token(client: httpx.AsyncClient, email: str, password: str) -> str:
    response = await client.post("/token", data={"username": email, "password": password})
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


async def _item_and_customer(client: httpx.AsyncClient, sku: str) -> tuple[int, str]:
    """An item with stock, made by the admin, and a newly registered customer's token."""
    admin = await _token(client, *ADMIN)
    item = {"title": "Granian", "sku": sku, "price": 2.5, "quantity": 10}
    created = await client.post("/items/", json=item, headers={"Authorization": f"Bearer {admin}"})
    assert created.status_code == 201, created.text
    account = {"email": f"{sku.lower()}@example.com", "password": "granian buyer password"}
    assert (await client.post("/users/", json=account)).status_code == 201
    return created.json()["id"], await _token(client, account["email"], account["password"])


def _purchase(sku: str) -> dict[str, Any]:
    return {"lines": [{"sku": sku, "quantity": 1}]}


async def test_it_serves_reads_and_a_signed_in_write(served: Served) -> None:
    async with live_client(base_url=served.base_url, timeout=30) as client:
        assert (await client.get("/items/")).status_code == 200
        item_id, token = await _item_and_customer(client, "GRANIAN-WRITE")
        ordered = await client.post(
            "/orders/",
            json=_purchase("GRANIAN-WRITE"),
            headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "granian-write"},
        )
        assert ordered.status_code == 201, ordered.text
        item = await client.get(f"/items/{item_id}")

    assert ordered.headers["server"] == "granian"  # not a uvicorn that ignored --server
    assert item.json()["quantity"] == 9


def _count(text: str, name: str, **labels: str) -> float:
    """The sum over every series of ``name`` with these labels (and any others)."""
    wanted = set(labels.items())
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and wanted <= set(sample.labels.items())
    )


async def test_metrics_add_up_the_requests_of_both_workers(served: Served) -> None:
    requests, path = 20, "/items/424242"  # a 404 no other test asks for
    counted = {"name": "stockroom_http_requests_total", "route": "/items/{item_id}"}
    counted |= {"method": "GET", "status": "404"}
    # A new connection for each request: the kernel spreads them over both workers.
    async with httpx.AsyncClient(
        base_url=served.base_url, timeout=30, limits=httpx.Limits(max_keepalive_connections=0)
    ) as client:
        before = _count((await client.get(served.metrics_url)).text, **counted)
        answers = [(await client.get(path)).status_code for _ in range(requests)]
        after = _count((await client.get(served.metrics_url)).text, **counted)
        on_the_api_port = await client.get("/metrics")

    assert answers == [404] * requests
    # Granian's supervisor answered the scrape, from both workers' files.
    assert after - before == requests
    assert on_the_api_port.status_code == 404
    access = [
        line
        for line in served.log_lines()
        if line["logger"] == "granian.access" and f'"GET {path} HTTP/1.1" 404' in line["message"]
    ]
    assert len(access) == requests
    assert len({line["pid"] for line in access}) == WORKERS, "one worker served them all"


def _exchange(port: int, padding: int) -> tuple[int | None, bytes]:
    """A GET with a header section of about ``padding`` bytes; the status (None: closed
    without an answer) and the body, read until the server closes."""
    request = (
        "GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        f"X-Padding: {'a' * padding}\r\n\r\n"
    ).encode()
    received = exchange_raw(port, request)
    if not received.startswith(b"HTTP/1.1 "):
        return None, received
    head, _, body = received.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def test_a_header_section_over_the_limit_gets_431_and_the_next_request_is_served(
    served: Served,
) -> None:
    within = MAX_HEADER_BYTES - 4 * KIB
    over = MAX_HEADER_BYTES + 4 * KIB

    assert _exchange(served.port, within) == (200, b'{"status":"live"}')
    # hyper's answer, not the API's JSON error (uvicorn's header guard gives one).
    assert _exchange(served.port, over) == (431, b"")
    assert _exchange(served.port, 100) == (200, b'{"status":"live"}')


def test_a_32_mib_header_is_cut_off_early(served: Served) -> None:
    sent, piece = 0, b"a" * (64 * KIB)
    with socket.create_connection(("127.0.0.1", served.port), timeout=10) as connection:
        try:
            connection.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\nX-Padding: ")
            while sent < 32 * KIB * KIB:
                connection.sendall(piece)
                sent += len(piece)
        except (ConnectionResetError, BrokenPipeError):
            pass
    # What the server took is what the kernel's buffers held, never the 32 MiB.
    assert sent < 16 * KIB * KIB


async def test_every_log_line_is_json_and_both_workers_log(served: Served) -> None:
    async with live_client(base_url=served.base_url, timeout=30) as client:
        assert (await client.get("/health/live")).status_code == 200

    lines = served.log_lines()
    assert all(line.keys() >= FIELDS for line in lines)
    started = {line["pid"] for line in lines if line["message"].startswith("Started worker-")}
    assert len(started) == WORKERS, started  # each worker configured the same JSON logs
    supervisor = [line for line in lines if line["message"].startswith("Starting granian")]
    assert [line["pid"] for line in supervisor] == [served.process.pid]
    assert any(
        line["logger"] == "granian.access"
        and line["message"].endswith('"GET /health/live HTTP/1.1" 200')
        for line in lines
    )


async def test_sigterm_drains_readiness_turns_503_and_requests_in_flight_finish(
    tmp_path: Path,
) -> None:
    with granian_serve(tmp_path) as served:
        async with live_client(base_url=served.base_url, timeout=30) as client:
            _, token = await _item_and_customer(client, "GRANIAN-DRAIN")
        body = json.dumps(_purchase("GRANIAN-DRAIN")).encode()
        held_order = await HeldRequest.open(
            served.port,
            "POST",
            "/orders/",
            {
                "Authorization": f"Bearer {token}",
                "Idempotency-Key": "granian-drain",
                "Content-Type": "application/json",
                "Content-Length": str(len(body)),
            },
        )
        held_probe = await HeldRequest.open(
            served.port, "GET", "/health/ready", {"Transfer-Encoding": "chunked"}
        )

        # To the supervisor alone, as Kubernetes signals a container's first process.
        served.process.send_signal(signal.SIGTERM)
        await eventually(
            lambda: served.log_text().count("Stopping worker-") >= WORKERS, DEADLINE_SECONDS
        )
        probe = await held_probe.finish([b"0\r\n\r\n"])
        order = await held_order.finish([body[:10], body[10:]], pause=0.3)
        exit_code = await asyncio.to_thread(served.process.wait, DEADLINE_SECONDS)
        log = served.log_text()

    context = f"\nserver log (end):\n{log[-3000:]}"
    assert (probe.status, probe.body) == (503, {"detail": "shutting down"}), context
    assert order.status == 201, f"{order}{context}"
    assert exit_code == 0, context
    assert all(f"Stopped worker-{n}" in log for n in (1, 2)), context
    assert "Traceback" not in log, context
    assert " ERROR " not in log, context
    # In time: no worker reached the graceful timeout (the next test shows what Granian logs).
    assert "refused to gracefully stop" not in log, context
    assert not live_group_members(served.process.pid)
    # Both lifespans ended (the pools disposed): SQLite removes the WAL file when the last
    # connection closes, and a killed worker would have left its connections open. (Granian
    # may still log "Killing worker-N" for a worker that had already exited: its supervisor
    # races its own watcher thread for the exit status, then signals an ended process.)
    assert not served.database.with_name("stockroom.db-wal").exists(), context
    with sqlite3.connect(served.database) as connection:
        keys = connection.execute("SELECT key FROM idempotency_keys").fetchall()
    assert keys == [("granian-drain",)]


async def test_a_request_still_running_after_the_graceful_timeout_gets_its_worker_killed(
    tmp_path: Path,
) -> None:
    """Granian differs here: uvicorn cancels such a request and still ends the lifespan."""
    grace = 2
    with granian_serve(tmp_path, "--graceful-timeout", str(grace)) as served:
        stuck = await HeldRequest.open(
            served.port,
            "POST",
            "/users/",
            {"Content-Type": "application/json", "Content-Length": "1000"},
        )
        signalled = time.monotonic()
        served.process.send_signal(signal.SIGTERM)
        exit_code = await asyncio.to_thread(served.process.wait, DEADLINE_SECONDS)
        took = time.monotonic() - signalled
        log = served.log_text()
        with pytest.raises(AssertionError, match=r"without answering|cut the request off"):
            await stuck.finish([])  # the body never comes: the worker died holding it

    context = f"\nserver log (end):\n{log[-3000:]}"
    assert "refused to gracefully stop" in log, context
    assert exit_code == 0, context
    # Elapsed time is the behaviour here: the worker was given its grace period, no less, and
    # then killed rather than waited for (15 s of slack for a loaded machine).
    assert grace * 0.9 <= took < grace + 15, context
    assert not live_group_members(served.process.pid)


@pytest.mark.parametrize(
    ("args", "settings", "said"),
    [
        (("--graceful-timeout", "0"), {}, "--graceful-timeout 0 is not possible under granian"),
        ((), {"max_header_bytes": "4096"}, "STOCKROOM_MAX_HEADER_BYTES=4096 is not possible"),
    ],
)
def test_what_granian_cannot_honour_is_refused_in_one_line(
    args: tuple[str, ...], settings: dict[str, str], said: str, tmp_path: Path
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'never.db'}"
    done = stockroom("serve", "--server", "granian", *args, url=url, **settings)

    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("error: "), done.stderr
    assert said in done.stderr
    assert not (tmp_path / "never.db").exists()  # refused before anything was done
