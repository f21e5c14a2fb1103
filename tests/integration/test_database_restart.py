"""Scenario 3, database restart under load: a real ``stockroom serve`` keeps answering while
its PostgreSQL goes away and comes back, and no purchase is lost or made twice.

The test owns everything it breaks: a throwaway PostgreSQL cluster (initdb into a temporary
folder, its own loopback port and socket folder, trust auth; run as the ``postgres`` OS user
when the tests run as root, since PostgreSQL refuses to run as root), the schema
(``stockroom db upgrade``), an admin (``stockroom users create-admin``) and the server process.
The shared server on 5432 is never touched.

Timeline: a few clients place two-line orders, each with its own Idempotency-Key; after a
healthy spell the cluster is stopped (``pg_ctl stop -m fast``, and in a second run
``-m immediate``, a crash), left down, started again, and the load goes on. Then:

- during the outage every answer is a 503 with Retry-After, never a 500, never a hang
  (every request has a client timeout, and none may reach it);
- within 5 s of the database accepting connections again, requests succeed again, with the
  same server process (no restart);
- every 201 is in the database with exactly its lines; no order lacks lines; stock taken
  equals the quantities on stored orders;
- a 503 is the one ambiguous answer (the connection may die during COMMIT), so each request
  that got one is retried with its key, as a client should: every request then has exactly
  one order, and the stock has dropped by exactly what was bought.

Without PostgreSQL binaries the test fails in CI (``CI`` set) and skips elsewhere.
"""

from __future__ import annotations

import asyncio
import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

import asyncpg
import httpx
import pytest

from tests.integration.conftest import IN_CI
from tests.integration.servers import live_client, wait_until_serving
from tests.polling import eventually

pytestmark = pytest.mark.postgres

STOCKROOM = str(Path(sys.executable).parent / "stockroom")
SECRET_KEY = "restart-test-signing-key-" + "f" * 32
ADMIN_PASSWORD = "restart admin password"
CUSTOMER_PASSWORD = "restart customer password"
INITIAL_STOCK = {"RESTART-A": 1_000_000, "RESTART-B": 1_000_000}

CLIENTS = 4
DOWN_SECONDS = 3.0  # the cluster stays stopped this long
RECOVERY_BOUND = 5.0  # requests must succeed again within this long of the database's return
AFTER_RECOVERY_SECONDS = 3.0  # load kept up past that bound, to prove it holds
LOAD_DEADLINE = 60.0  # the load must have been answered by then (a loaded machine is slow)
REQUEST_TIMEOUT = 10.0  # seconds: an answer slower than this counts as a hang
BACKOFF_AFTER_503 = 0.25  # a polite client waits (Retry-After is 1 s; shorter, to see recovery)


def _unavailable(reason: str) -> NoReturn:
    message = f"cannot run a throwaway PostgreSQL cluster: {reason}"
    if IN_CI:
        pytest.fail(message + " (CI=true: this test must run)", pytrace=False)
    pytest.skip(message)


def _postgres_bindir() -> Path:
    """``STOCKROOM_TEST_PG_BINDIR``, or the newest /usr/lib/postgresql/*/bin with initdb."""
    configured = os.environ.get("STOCKROOM_TEST_PG_BINDIR")
    candidates = [configured] if configured else glob.glob("/usr/lib/postgresql/*/bin")
    found = [
        Path(path)
        for path in candidates
        if (Path(path) / "initdb").is_file() and (Path(path) / "pg_ctl").is_file()
    ]
    if not found:
        _unavailable("no initdb/pg_ctl (install postgresql or set STOCKROOM_TEST_PG_BINDIR)")
    return max(found, key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Cluster:
    """A PostgreSQL cluster in a temporary folder, run as ``postgres`` when we are root."""

    bindir: Path
    root: Path
    port: int
    as_postgres: list[str]

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "postgres.log"

    def command(self, tool: str, *args: str) -> list[str]:
        return [*self.as_postgres, str(self.bindir / tool), *args]

    def ctl(self, *args: str) -> list[str]:
        return self.command("pg_ctl", "-D", str(self.data), "-l", str(self.log), *args)

    def run(self, argv: Sequence[str], timeout: float = 120) -> None:
        done = subprocess.run(  # noqa: S603 - our own fixed commands
            argv, capture_output=True, text=True, timeout=timeout, check=False
        )
        assert done.returncode == 0, f"{' '.join(argv)} failed:\n{done.stdout}\n{done.stderr}"

    def url(self, database: str = "stockroom") -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def log_tail(self) -> str:
        return self.log.read_text()[-3000:] if self.log.exists() else "(no log)"


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    bindir = _postgres_bindir()
    as_postgres: list[str] = []
    root = Path(tempfile.mkdtemp(prefix="stockroom-restart-"))  # /tmp: postgres can reach it
    try:
        if os.geteuid() == 0:
            runuser = shutil.which("runuser")
            if runuser is None:
                _unavailable("running as root and there is no runuser to become postgres")
            try:
                shutil.chown(root, user="postgres", group=None)
            except LookupError:
                _unavailable("running as root and there is no 'postgres' OS user")
            as_postgres = [runuser, "-u", "postgres", "--"]
        cluster = Cluster(bindir, root, _free_port(), as_postgres)
        cluster.run(
            cluster.command(
                "initdb",
                "-D",
                str(cluster.data),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            )
        )
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(cluster.port),
            "unix_socket_directories": f"'{root}'",
            "fsync": "off",  # a throwaway cluster; a clean stop still checkpoints everything
            "max_connections": "50",
        }
        with (cluster.data / "postgresql.conf").open("a") as conf:
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
        try:
            cluster.run(cluster.ctl("-w", "-t", "60", "start"))
            cluster.run(
                cluster.command(
                    "createdb",
                    "-h",
                    str(root),
                    "-p",
                    str(cluster.port),
                    "-U",
                    "postgres",
                    "stockroom",
                )
            )
            yield cluster
        finally:
            # Whatever state the test left it in: stopped, and no postgres process survives.
            subprocess.run(  # noqa: S603 - our own fixed command
                cluster.ctl("-m", "immediate", "-w", "-t", "30", "stop"),
                capture_output=True,
                timeout=60,
                check=False,
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)


@dataclass
class Server:
    base_url: str
    process: subprocess.Popen[bytes]
    log: Path

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-6000:]


def _stockroom(cluster: Cluster, cwd: Path, *args: str, **extra_env: str) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("STOCKROOM_")}
    env.update(STOCKROOM_DATABASE_URL=cluster.url(), STOCKROOM_SECRET_KEY=SECRET_KEY, **extra_env)
    done = subprocess.run(  # noqa: S603 - our own console script
        [STOCKROOM, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"stockroom {' '.join(args)}:\n{done.stdout}\n{done.stderr}"


@pytest.fixture
def server(cluster: Cluster, tmp_path: Path) -> Iterator[Server]:
    _stockroom(cluster, tmp_path, "db", "upgrade")
    _stockroom(
        cluster,
        tmp_path,
        "users",
        "create-admin",
        "admin@example.com",
        STOCKROOM_ADMIN_PASSWORD=ADMIN_PASSWORD,
    )
    port = _free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("STOCKROOM_")}
    env.update(STOCKROOM_DATABASE_URL=cluster.url(), STOCKROOM_SECRET_KEY=SECRET_KEY)
    env["STOCKROOM_DRAIN_SECONDS"] = "0"  # no balancer to tell: stopped, it stops at once
    env["STOCKROOM_METRICS_PORT"] = "0"  # a free one, not the default another server may hold
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 - our own console script
            [STOCKROOM, "serve", "--port", str(port), "--workers", "1"],
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = Server(f"http://127.0.0.1:{port}", process, log_path)
    try:
        wait_until_serving(server.base_url, process, log_path)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


@dataclass
class Outcome:
    key: str
    lines: dict[str, int]
    started: float
    ended: float = 0.0
    status: int | None = None
    error: str | None = None
    order_id: int | None = None
    retry_after: str | None = None
    body: str = ""


@dataclass
class Timeline:
    stopping: float = 0.0  # pg_ctl stop issued
    stopped: float = 0.0  # pg_ctl stop returned: the cluster is down
    starting: float = 0.0  # pg_ctl start issued
    back: float = 0.0  # pg_ctl start -w returned: accepting connections again
    finish: float = field(default=float("inf"))


async def _place(client: httpx.AsyncClient, token: str, key: str, lines: dict[str, int]) -> Outcome:
    outcome = Outcome(key, lines, started=time.monotonic())
    body = {"lines": [{"sku": sku, "quantity": quantity} for sku, quantity in lines.items()]}
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": key}
    try:
        response = await client.post("/orders/", json=body, headers=headers)
    except httpx.TimeoutException as error:
        outcome.error = f"timeout after {REQUEST_TIMEOUT}s: {type(error).__name__}"
    except httpx.TransportError as error:
        outcome.error = f"{type(error).__name__}: {error}"
    else:
        outcome.status = response.status_code
        outcome.body = response.text[:300]
        outcome.retry_after = response.headers.get("retry-after")
        if response.status_code == 201:
            outcome.order_id = response.json()["id"]
    outcome.ended = time.monotonic()
    return outcome


async def _buyer(
    number: int, client: httpx.AsyncClient, token: str, timeline: Timeline, out: list[Outcome]
) -> None:
    sent = 0
    while time.monotonic() < timeline.finish:
        sent += 1
        lines = {"RESTART-A": 1 + (number + sent) % 3, "RESTART-B": 1 + sent % 2}
        outcome = await _place(client, token, f"restart-{number}-{sent}", lines)
        out.append(outcome)
        await asyncio.sleep(BACKOFF_AFTER_503 if outcome.status == 503 else 0.01)


async def _pg_ctl(cluster: Cluster, *args: str) -> None:
    process = await asyncio.create_subprocess_exec(
        *cluster.ctl(*args), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 0, f"pg_ctl {' '.join(args)}:\n{output.decode()}"


async def _restart_database(
    cluster: Cluster, timeline: Timeline, stop_mode: str, outcomes: list[Outcome]
) -> None:
    # A healthy spell of load, lasting until every client has been answered at least once:
    # the outage must interrupt a server that was working.
    def every_client_answered_before_the_outage() -> bool:
        return len({outcome.key.rsplit("-", 1)[0] for outcome in outcomes}) == CLIENTS

    await eventually(every_client_answered_before_the_outage, LOAD_DEADLINE)
    timeline.stopping = time.monotonic()
    await _pg_ctl(cluster, "-m", stop_mode, "-w", "-t", "60", "stop")
    timeline.stopped = time.monotonic()
    # A sleep that makes the outage (nothing to wait for): it lasts, so clients retry into it.
    await asyncio.sleep(DOWN_SECONDS)
    timeline.starting = time.monotonic()
    await _pg_ctl(cluster, "-w", "-t", "60", "start")
    timeline.back = time.monotonic()
    # The load goes on past the recovery bound, until enough requests sent after it have
    # been answered to judge the recovery by. The bound is the behaviour under test (requests
    # succeed again within RECOVERY_BOUND s of the database's return), so time must pass.
    recovered_by = timeline.back + RECOVERY_BOUND
    await asyncio.sleep(RECOVERY_BOUND + AFTER_RECOVERY_SECONDS)

    def answers_to_requests_sent_after_the_recovery_bound() -> bool:
        return sum(o.started >= recovered_by for o in outcomes) >= CLIENTS

    await eventually(answers_to_requests_sent_after_the_recovery_bound, LOAD_DEADLINE)
    timeline.finish = time.monotonic()


async def _token(client: httpx.AsyncClient, email: str, password: str) -> str:
    response = await client.post("/token", data={"username": email, "password": password})
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def _describe(outcomes: Sequence[Outcome], timeline: Timeline, limit: int = 15) -> str:
    zero = timeline.stopping
    return "\n".join(
        f"  {o.key}: t={o.started - zero:+.2f}s..{o.ended - zero:+.2f}s "
        f"{o.status or o.error} {o.body[:120]}"
        for o in outcomes[:limit]
    )


# fast: the server rolls back open transactions and closes connections cleanly (a planned
# restart). immediate: it just quits, like a crash; the next start runs crash recovery.
@pytest.mark.parametrize("stop_mode", ["fast", "immediate"])
async def test_orders_survive_a_database_restart_under_load(
    cluster: Cluster, server: Server, stop_mode: str
) -> None:
    timeout = httpx.Timeout(REQUEST_TIMEOUT)
    async with live_client(base_url=server.base_url, timeout=timeout) as client:
        admin = await _token(client, "admin@example.com", ADMIN_PASSWORD)
        registered = await client.post(
            "/users/", json={"email": "buyer@example.com", "password": CUSTOMER_PASSWORD}
        )
        assert registered.status_code == 201, registered.text
        buyer = await _token(client, "buyer@example.com", CUSTOMER_PASSWORD)
        for sku, quantity in INITIAL_STOCK.items():
            item = {"title": sku, "sku": sku, "price": 2.5, "quantity": quantity}
            created = await client.post(
                "/items/", json=item, headers={"Authorization": f"Bearer {admin}"}
            )
            assert created.status_code == 201, created.text

        timeline = Timeline()
        outcomes: list[Outcome] = []
        # A task group: if the restart fails, the buyers are cancelled instead of loading
        # the server for ever (their loop ends only once the restart sets the finish).
        async with asyncio.TaskGroup() as load:
            load.create_task(_restart_database(cluster, timeline, stop_mode, outcomes))
            for n in range(CLIENTS):
                load.create_task(_buyer(n, client, buyer, timeline, outcomes))
        outcomes.sort(key=lambda outcome: outcome.started)
        context = f"\nserver log:\n{server.log_tail()}\npostgres log:\n{cluster.log_tail()}"

        # Never a 500, never a hang, never anything but "done" or "try again".
        unexpected = [o for o in outcomes if o.status not in (201, 503)]
        assert not unexpected, (
            f"{len(unexpected)} of {len(outcomes)} requests got neither 201 nor 503:\n"
            + _describe(unexpected, timeline)
            + context
        )
        unavailable = [o for o in outcomes if o.status == 503]
        assert all(o.retry_after for o in unavailable), "a 503 without Retry-After"
        assert all('"detail"' in o.body for o in unavailable), "a 503 without a JSON detail"

        # The outage was seen, and only while the database was away.
        assert unavailable, "no request saw the outage: the test proved nothing" + context
        early = [o for o in unavailable if o.ended < timeline.stopping]
        assert not early, "503s before the database was stopped:\n" + _describe(early, timeline)
        healthy = [o for o in outcomes if o.ended < timeline.stopping]
        assert healthy, "no request completed before the outage"
        impossible = [
            o
            for o in outcomes
            if o.status == 201 and o.started > timeline.stopped and o.ended < timeline.starting
        ]
        assert not impossible, "201s while the database was down:\n" + _describe(
            impossible, timeline
        )

        # Recovery: everything sent from RECOVERY_BOUND after the return on succeeded, with
        # the very process that was serving before.
        recovered_by = timeline.back + RECOVERY_BOUND
        late = [o for o in outcomes if o.started >= recovered_by]
        assert len(late) >= CLIENTS, "too little load after the recovery bound to judge it"
        still_failing = [o for o in late if o.status != 201]
        assert not still_failing, (
            f"requests still failing {RECOVERY_BOUND}s after the database came back "
            f"(back at t={timeline.back - timeline.stopping:+.2f}s):\n"
            + _describe(still_failing, timeline)
            + context
        )
        first_success = min(
            o.ended for o in outcomes if o.status == 201 and o.started > timeline.back
        )
        assert first_success - timeline.back <= RECOVERY_BOUND
        assert server.process.poll() is None, "the server process died" + context

        # Reconcile with the database.
        placed = {o.order_id: o for o in outcomes if o.status == 201}
        await _reconcile(cluster, placed, outcomes, retried={})

        # A 503 may hide a commit (the connection died during COMMIT): the client retries
        # with its key and must get exactly one order, old or new, never a second one.
        retried: dict[str, int] = {}
        for outcome in unavailable:
            again = await _place(client, buyer, outcome.key, outcome.lines)
            assert again.status == 201, f"retry of {outcome.key}: {again.status or again.error}"
            assert again.order_id is not None
            retried[outcome.key] = again.order_id
        await _reconcile(cluster, placed, outcomes, retried=retried)


async def _reconcile(
    cluster: Cluster,
    placed: dict[int | None, Outcome],
    outcomes: Sequence[Outcome],
    *,
    retried: dict[str, int],
) -> None:
    """The database against what clients were told. Before the retries (``retried`` empty),
    an order may exist for a 503'd request; after them, every request has exactly one."""
    dsn = cluster.url().replace("postgresql+asyncpg", "postgresql")
    connection = await asyncpg.connect(dsn, timeout=10)
    try:
        lines = await connection.fetch(
            "SELECT o.id, l.sku, l.quantity FROM orders o JOIN order_lines l ON l.order_id = o.id"
        )
        keys = await connection.fetch("SELECT key, order_id FROM idempotency_keys")
        orders = {row["id"] for row in await connection.fetch("SELECT id FROM orders")}
        stock = {
            row["sku"]: row["quantity"]
            for row in await connection.fetch("SELECT sku, quantity FROM items")
        }
    finally:
        await connection.close()

    stored: dict[int, dict[str, int]] = {}
    for row in lines:
        stored.setdefault(row["id"], {})[row["sku"]] = row["quantity"]
    assert orders == set(stored), f"orders without lines: {sorted(orders - set(stored))}"
    for order_id, outcome in placed.items():
        assert order_id in stored, f"{outcome.key} got 201 for order {order_id}, not stored"
        assert stored[order_id] == outcome.lines, f"order {order_id} has other lines"

    by_key = {row["key"]: row["order_id"] for row in keys}
    assert set(by_key.values()) == orders, "an order without its key, or a key without order"
    outcome_by_key = {o.key: o for o in outcomes}
    for key, order_id in by_key.items():
        outcome = outcome_by_key[key]
        if outcome.status == 201:
            assert order_id == outcome.order_id
        elif key in retried:
            assert order_id == retried[key], f"{key}: the retry made a second order"
        else:
            # Stored although the client was told 503: only a commit whose answer was lost.
            assert outcome.status == 503, f"{key}: stored, but the client got {outcome.status}"
            assert stored[order_id] == outcome.lines

    taken = dict.fromkeys(INITIAL_STOCK, 0)
    for order_lines in stored.values():
        for sku, quantity in order_lines.items():
            taken[sku] += quantity
    assert stock == {sku: INITIAL_STOCK[sku] - taken[sku] for sku in INITIAL_STOCK}, (
        f"stock {stock} does not match the {len(stored)} stored orders (taken {taken})"
    )
    if retried:
        assert set(by_key) == set(outcome_by_key), "after the retries, every request has an order"
