"""A failure at every step of a unit of work, through the API, on SQLite and PostgreSQL.

One fault per request, injected where the issue names it:

- before flush: a ``before_flush`` listener on the request's session raises;
- after flush: an ``after_flush`` listener raises once the INSERTs/UPDATEs reached the server;
- during commit: the dialect's DBAPI ``commit`` raises the driver's ``OperationalError``,
  marked as the server's internal error (SQLSTATE XX000), instead of committing;
- after commit: an ``after_commit`` listener raises once the server acknowledged COMMIT.

The unit of work flushes explicitly before it commits, so the flush steps strike in that
flush (or in an earlier one the service asks for, as placing an order does), and the commit
steps strike once every statement has reached the server; each test checks which it was.

The first three are an unexpected failure (a 500) and leave nothing written; the last one
keeps the write and the client gets its normal answer, because the write stands. Every check
of what was stored is plain SQL on a separate connection. A clean write after each fault
proves no lock or transaction was left behind (on SQLite a leftover ``BEGIN IMMEDIATE`` would
make it wait out the busy timeout and fail).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from adapters.database import Database
from adapters.unit_of_work import UnitSession
from entrypoints.container import Container
from tests.api_support import Account
from tests.integration.failure_support import (
    assert_nothing_holds_the_database,
    bounded,
    container_on,
    hookable_session_class,
    scalar,
    stock,
)


class InjectedFault(Exception):
    """The failure a test plants; nothing in the application knows this type."""


class Fault:
    """Raises ``InjectedFault`` the first time it is reached after being armed.

    It also counts the writes the server received since it was armed, so a test can tell that
    the fault struck where its step says: before any was sent, or once they had been.
    """

    def __init__(self, step: str) -> None:
        self.step = step
        self.armed = False
        self.fired = 0
        self.reached = 0  # armed or not: proves a later write still passes this step
        self.writes_sent = 0  # INSERT/UPDATE/DELETE statements the server got since arming
        self.writes_when_struck: int | None = None

    def arm(self) -> None:
        self.armed = True
        self.writes_sent = 0

    def statement_sent(self, statement: str) -> None:
        if self.armed and statement.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")):
            self.writes_sent += 1

    def strike(self) -> None:
        self.reached += 1
        if self.armed:
            self.armed = False
            self.fired += 1
            self.writes_when_struck = self.writes_sent
            raise InjectedFault(f"injected {self.step}")


STEPS = ["before flush", "after flush", "during commit", "after commit"]
pytestmark = pytest.mark.reporting_client  # the faults here make 500s: they must come back


def _plant(
    step: str,
    database: Database,
    session_class: type[UnitSession],
    monkeypatch: pytest.MonkeyPatch,
) -> Fault:
    fault = Fault(step)
    # What reached the server, counted by the engine (not by the session whose hooks fail).
    event.listen(
        database.engine.sync_engine,
        "after_cursor_execute",
        lambda _conn, _cursor, statement, *_: fault.statement_sent(statement),
    )
    if step == "before flush":
        event.listen(session_class, "before_flush", lambda *_: fault.strike())
    elif step == "after flush":
        event.listen(session_class, "after_flush", lambda *_: fault.strike())
    elif step == "after commit":
        event.listen(session_class, "after_commit", lambda *_: fault.strike())
    else:
        # The unit of work flushes explicitly before it commits: the statements have reached
        # the server when this refuses the COMMIT itself.
        dialect = database.engine.sync_engine.dialect
        real_commit: Callable[[Any], None] = dialect.do_commit

        def failing_commit(dbapi_connection: Any) -> None:
            try:
                fault.strike()
            except InjectedFault as injected:
                refused = dialect.loaded_dbapi.OperationalError(str(injected))
                # The server's "internal error": it answered, so this is no outage (an error
                # without a SQLSTATE would be one: it never reached the server, a 503).
                refused.sqlstate = "XX000"
                raise refused from injected
            real_commit(dbapi_connection)

        monkeypatch.setattr(dialect, "do_commit", failing_commit)
    return fault


def _assert_struck_at_its_step(fault: Fault) -> None:
    assert fault.fired == 1, f"the fault {fault.step!r} was never reached"
    if fault.step == "before flush":
        assert fault.writes_when_struck == 0, "writes reached the server before the flush"
    else:
        assert fault.writes_when_struck, f"the fault {fault.step!r} struck before any write"


@pytest.fixture
def database(own_pool: Database) -> Database:
    return own_pool  # a pool of the test's own: what a fault leaves behind dies with the test


@pytest.fixture(params=STEPS)
def step(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def session_class() -> type[UnitSession]:
    return hookable_session_class()


@pytest.fixture
def fault(
    step: str,
    database: Database,
    session_class: type[UnitSession],
    monkeypatch: pytest.MonkeyPatch,
) -> Fault:
    return _plant(step, database, session_class, monkeypatch)


@pytest.fixture
def container(database: Database, session_class: type[UnitSession]) -> Container:
    return container_on(database, session_class)  # sessions of the class the faults hang on


def _committed(step: str) -> bool:
    return step == "after commit"


async def _clean_write_still_works(
    client: httpx.AsyncClient, database: Database, admin: Account, fault: Fault
) -> None:
    await assert_nothing_holds_the_database(database)
    reached = fault.reached
    response = await bounded(
        client.post("/items/", json={"title": "Next", "sku": "NEXT"}, headers=admin.headers)
    )
    assert response.status_code == 201, response.text
    assert fault.reached > reached, "the clean write did not pass the fault's step"
    await assert_nothing_holds_the_database(database)


async def test_a_fault_while_creating_an_item(
    client: httpx.AsyncClient, database: Database, admin: Account, step: str, fault: Fault
) -> None:
    fault.arm()
    response = await bounded(
        client.post("/items/", json={"title": "Faulty", "sku": "FAULTY"}, headers=admin.headers)
    )

    _assert_struck_at_its_step(fault)
    if _committed(step):
        assert response.status_code == 201, response.text
        assert response.json()["sku"] == "FAULTY"
        assert await stock(database) == {"FAULTY": 0}
    else:
        assert response.status_code == 500, response.text
        assert await stock(database) == {}
    await _clean_write_still_works(client, database, admin, fault)
    # The next request committed its own write and nothing else.
    assert await stock(database) == ({"FAULTY": 0} if _committed(step) else {}) | {"NEXT": 0}


async def test_a_fault_while_placing_an_order(
    client: httpx.AsyncClient,
    database: Database,
    admin: Account,
    customer: Account,
    step: str,
    fault: Fault,
) -> None:
    created = await client.post(
        "/items/", json={"title": "Cup", "sku": "CUP", "quantity": 10}, headers=admin.headers
    )
    assert created.status_code == 201, created.text

    fault.arm()
    response = await bounded(
        client.post(
            "/orders/",
            json={"lines": [{"sku": "CUP", "quantity": 3}]},
            headers={**customer.headers, "Idempotency-Key": f"fault-{step.replace(' ', '-')}"},
        )
    )

    _assert_struck_at_its_step(fault)
    stored = 1 if _committed(step) else 0
    if _committed(step):
        assert response.status_code == 201, response.text
        assert response.json()["lines"][0]["quantity"] == 3
    else:
        assert response.status_code == 500, response.text
    assert await stock(database) == {"CUP": 10 - 3 * stored}
    assert await scalar(database, "SELECT count(*) FROM orders") == stored
    assert await scalar(database, "SELECT count(*) FROM order_lines") == stored
    assert await scalar(database, "SELECT count(*) FROM idempotency_keys") == stored
    await _clean_write_still_works(client, database, admin, fault)
    # The next request committed its own write and nothing else.
    assert await stock(database) == {"CUP": 10 - 3 * stored, "NEXT": 0}
    assert await scalar(database, "SELECT count(*) FROM orders") == stored
