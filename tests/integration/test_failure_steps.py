"""A failure at every step of a unit of work, through the API, on SQLite and PostgreSQL.

One fault per request, injected where the issue names it:

- before flush: a ``before_flush`` listener on the request's session raises;
- after flush: an ``after_flush`` listener raises once the INSERTs/UPDATEs reached the server;
- during commit: the dialect's DBAPI ``commit`` raises the driver's ``OperationalError``
  instead of committing (the server never sees COMMIT);
- after commit: an ``after_commit`` listener raises once the server acknowledged COMMIT.

The first three are an unexpected failure (a 500) and leave nothing written; the last one
keeps the write and the client gets its normal answer, because the write stands. Every check
of what was stored is plain SQL on a separate connection. A clean write after each fault
proves no lock or transaction was left behind (on SQLite a leftover ``BEGIN IMMEDIATE`` would
make it wait out the busy timeout and fail).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Session

from entrypoints.api.app import create_app
from entrypoints.container import Container
from tests.api_support import Account
from tests.integration.conftest import BACKENDS
from tests.integration.failure_support import (
    assert_nothing_holds_the_database,
    bounded,
    container_on,
    hookable_session_class,
    reporting_client,
    scalar,
    stock,
    tracked_engine,
)


class InjectedFault(Exception):
    """The failure a test plants; nothing in the application knows this type."""


class Fault:
    """Raises ``InjectedFault`` the first time it is reached after being armed."""

    def __init__(self, step: str) -> None:
        self.step = step
        self.armed = False
        self.fired = 0

    def strike(self) -> None:
        if self.armed:
            self.armed = False
            self.fired += 1
            raise InjectedFault(f"injected {self.step}")


STEPS = ["before flush", "after flush", "during commit", "after commit"]


def _plant(
    step: str, engine: AsyncEngine, session_class: type[Session], monkeypatch: pytest.MonkeyPatch
) -> Fault:
    fault = Fault(step)
    if step == "before flush":
        event.listen(session_class, "before_flush", lambda *_: fault.strike())
    elif step == "after flush":
        event.listen(session_class, "after_flush", lambda *_: fault.strike())
    elif step == "after commit":
        event.listen(session_class, "after_commit", lambda *_: fault.strike())
    else:
        dialect = engine.sync_engine.dialect
        real_commit: Callable[[Any], None] = dialect.do_commit

        def failing_commit(dbapi_connection: Any) -> None:
            try:
                fault.strike()
            except InjectedFault as injected:
                raise dialect.loaded_dbapi.OperationalError(str(injected)) from injected
            real_commit(dbapi_connection)

        monkeypatch.setattr(dialect, "do_commit", failing_commit)
    return fault


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest) -> str:
    """The run's migrated SQLite file or PostgreSQL database."""
    request.getfixturevalue(f"{request.param}_engine")  # migrates the schema
    return str(request.getfixturevalue(f"{request.param}_url"))


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """Overrides the suite's ``engine``: a pool of its own, so a connection a fault leaves
    behind is closed when the test ends and cannot reach another test."""
    async with tracked_engine(database_url) as engine:
        yield engine


@pytest.fixture(params=STEPS)
def step(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def session_class() -> type[Session]:
    return hookable_session_class()


@pytest.fixture
def fault(
    step: str,
    engine: AsyncEngine,
    session_class: type[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> Fault:
    return _plant(step, engine, session_class, monkeypatch)


@pytest.fixture
def container(engine: AsyncEngine, session_class: type[Session]) -> Container:
    return container_on(engine, session_class)


@pytest.fixture
async def client(container: Container) -> AsyncIterator[httpx.AsyncClient]:
    async with reporting_client(create_app(container)) as client:
        yield client


def _committed(step: str) -> bool:
    return step == "after commit"


async def _clean_write_still_works(
    client: httpx.AsyncClient, engine: AsyncEngine, admin: Account, fault: Fault
) -> None:
    await assert_nothing_holds_the_database(engine)
    response = await bounded(
        client.post("/items/", json={"title": "Next", "sku": "NEXT"}, headers=admin.headers)
    )
    assert response.status_code == 201, response.text
    assert fault.fired == 1, "the fault struck more than once"
    await assert_nothing_holds_the_database(engine)


async def test_a_fault_while_creating_an_item(
    client: httpx.AsyncClient, engine: AsyncEngine, admin: Account, step: str, fault: Fault
) -> None:
    fault.armed = True
    response = await bounded(
        client.post("/items/", json={"title": "Faulty", "sku": "FAULTY"}, headers=admin.headers)
    )

    assert fault.fired == 1, f"the fault {step!r} was never reached"
    if _committed(step):
        assert response.status_code == 201, response.text
        assert response.json()["sku"] == "FAULTY"
        assert await stock(engine) == {"FAULTY": 0}
    else:
        assert response.status_code == 500, response.text
        assert await stock(engine) == {}
    await _clean_write_still_works(client, engine, admin, fault)
    # The next request committed its own write and nothing else.
    assert await stock(engine) == ({"FAULTY": 0} if _committed(step) else {}) | {"NEXT": 0}


async def test_a_fault_while_placing_an_order(
    client: httpx.AsyncClient,
    engine: AsyncEngine,
    admin: Account,
    customer: Account,
    step: str,
    fault: Fault,
) -> None:
    created = await client.post(
        "/items/", json={"title": "Cup", "sku": "CUP", "quantity": 10}, headers=admin.headers
    )
    assert created.status_code == 201, created.text

    fault.armed = True
    response = await bounded(
        client.post(
            "/orders/",
            json={"lines": [{"sku": "CUP", "quantity": 3}]},
            headers={**customer.headers, "Idempotency-Key": f"fault-{step.replace(' ', '-')}"},
        )
    )

    assert fault.fired == 1, f"the fault {step!r} was never reached"
    stored = 1 if _committed(step) else 0
    if _committed(step):
        assert response.status_code == 201, response.text
        assert response.json()["lines"][0]["quantity"] == 3
    else:
        assert response.status_code == 500, response.text
    assert await stock(engine) == {"CUP": 10 - 3 * stored}
    assert await scalar(engine, "SELECT count(*) FROM orders") == stored
    assert await scalar(engine, "SELECT count(*) FROM order_lines") == stored
    assert await scalar(engine, "SELECT count(*) FROM idempotency_keys") == stored
    await _clean_write_still_works(client, engine, admin, fault)
    # The next request committed its own write and nothing else.
    assert await stock(engine) == {"CUP": 10 - 3 * stored, "NEXT": 0}
    assert await scalar(engine, "SELECT count(*) FROM orders") == stored
