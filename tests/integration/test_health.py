"""Health against real databases: SQLite and PostgreSQL, a closed port, a server that never
answers, and a PgBouncer of the test's own, stopped and started again.

``/health/dependencies`` reports the database unreachable or too slow with a 503; readiness
stays 200 and says "degraded" (issue 23: every instance shares the database, and pulling them
all at once turned a blip into an outage). The app runs in-process on the real container
(``container_on``); only the database behind it changes from test to test.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy.engine import make_url

from adapters.database import Database
from adapters.pool import PoolSettings
from adapters.postgres import Pooler
from entrypoints.api.app import create_app
from entrypoints.api.readiness import CHECK_WITHIN_SECONDS
from tests.integration.conftest import POSTGRES_URL
from tests.integration.databases import open_database
from tests.integration.failure_support import container_on, reporting_client
from tests.integration.servers import PgBouncer, free_port

READY = {"status": "ready", "database": "ok", "replicas": {}}
UNREACHABLE = {"detail": "the database is unreachable"}
TOO_SLOW = {"detail": f"the database did not answer within {CHECK_WITHIN_SECONDS} s"}
READY_WITHIN_SECONDS = CHECK_WITHIN_SECONDS
# A loaded machine may take this much longer than the readiness timeout to answer.
SLACK_SECONDS = 5.0
# One pooled connection: the one a pooler's restart breaks is the one the next probe gets.
ONE_CONNECTION = PoolSettings(size=1, timeout=5.0)


async def probe(database: Database, path: str = "/health/dependencies") -> httpx.Response:
    """``path`` of an app on the real container, on ``database``, once its readiness has been
    checked (as its lifespan does before serving)."""
    app = create_app(container_on(database))
    await app.state.readiness.check()
    async with reporting_client(app) as client:
        return await client.get(path)


async def degraded(database: Database, state: str) -> None:
    """Readiness stays 200 through the database's blip, and says what the check found."""
    response = await probe(database, "/health/ready")
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "degraded", "database": state, "replicas": {}}


def url_on_port(port: int) -> str:
    return make_url(POSTGRES_URL).set(host="127.0.0.1", port=port).render_as_string(False)


async def test_ready_on_each_backend(database: Database) -> None:
    response = await probe(database, "/health/ready")
    assert response.status_code == 200, response.text
    assert response.json() == READY
    assert (await probe(database)).json() == {"database": "ok", "replicas": {}}
    assert (await probe(database, "/health/live")).json() == {"status": "live"}


async def test_not_ready_when_nothing_listens_on_the_database_port() -> None:
    async with open_database(url_on_port(free_port())) as database:
        started = time.monotonic()
        response = await probe(database)
        elapsed = time.monotonic() - started

        assert response.status_code == 503
        assert response.json() == UNREACHABLE
        # Elapsed time is the behaviour: a probe answers within its timeout (plus slack for a
        # loaded machine); a refused connection is not waited out.
        assert elapsed < READY_WITHIN_SECONDS + SLACK_SECONDS
        # Liveness does not depend on the database, nor does readiness fail for it.
        assert (await probe(database, "/health/live")).status_code == 200
        await degraded(database, "unreachable")


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port whose connections the kernel completes, but that nobody ever answers: a
    database server that hangs."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield int(listener.getsockname()[1])


async def test_not_ready_when_the_database_does_not_answer_in_time(silent_port: int) -> None:
    async with open_database(url_on_port(silent_port)) as database:
        started = time.monotonic()
        response = await probe(database)
        elapsed = time.monotonic() - started

        await degraded(database, "slow")

    assert response.status_code == 503
    assert response.json() == TOO_SLOW
    # Elapsed time is the behaviour: the database gets its whole timeout, and no more.
    assert READY_WITHIN_SECONDS <= elapsed < READY_WITHIN_SECONDS + SLACK_SECONDS


async def ready_again(database: Database) -> httpx.Response:
    """Probe as a load balancer does, once in a while, until ready (or the deadline)."""
    deadline = time.monotonic() + 10 * SLACK_SECONDS
    while True:
        response = await probe(database)
        if response.status_code == 200 or time.monotonic() > deadline:
            return response
        await asyncio.sleep(0.1)


@pytest.mark.postgres
async def test_not_ready_while_the_pgbouncer_in_front_is_stopped(
    own_pgbouncer: PgBouncer, postgres_url: str
) -> None:
    name = make_url(postgres_url).database or ""
    url = own_pgbouncer.url(name)
    async with open_database(url, ONE_CONNECTION, Pooler.TRANSACTION) as database:
        assert (await probe(database, "/health/ready")).json() == READY

        own_pgbouncer.stop()
        # The pooled connection the pooler's exit broke, then a connection it refuses.
        for attempt in ("broken connection", "refused connection"):
            response = await probe(database)
            assert response.status_code == 503, (attempt, response.text)
            assert response.json() == UNREACHABLE, attempt
        await degraded(database, "unreachable")

        own_pgbouncer.start()
        response = await ready_again(database)
        assert response.status_code == 200, response.text
        assert response.json() == {"database": "ok", "replicas": {}}
        assert (await probe(database, "/health/ready")).json() == READY


@pytest.mark.postgres
async def test_not_ready_when_the_pgbouncer_cannot_reach_postgres() -> None:
    bouncer = PgBouncer("transaction", url_on_port(free_port()))
    try:
        bouncer.start()
        async with open_database(bouncer.url("test"), pooler=Pooler.TRANSACTION) as database:
            response = await probe(database)
    finally:
        bouncer.remove()

    assert response.status_code == 503, response.text
    # PgBouncer 1.18 keeps the client waiting while it retries the server (too slow); one
    # that gives up sooner says so with an error (unreachable): either is not ready.
    assert response.json() in (UNREACHABLE, TOO_SLOW)
