"""Work that outlives the request's own unit: the NDJSON export, streamed page by page, and the
low-stock alert that follows ``POST /orders/``.

The export only reads, so it goes through the read port (``container.reads()``), one short
read per page. It must hold no connection while the client reads and leave nothing checked out
and no session ``idle in transaction`` however it ends: finished, failed halfway, or abandoned
by the client. The alert is no work of the request at all: the sale commits ``stock.low``
events to the outbox, and the dispatcher runs the alert's handler from there, after the
response (``service_layer/messagebus.py``).

Faults are injected at the engines (``before_cursor_execute`` rewrites the one statement that
should fail), so they strike inside the database on the very connection the application
uses, whichever repository or read sends the query. The streaming tests call the ASGI
app directly (``failure_support.exchange``) rather than through httpx, to see each chunk at
the moment it is sent and to vanish mid-stream.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from dependency_injector import providers
from prometheus_client import REGISTRY
from sqlalchemy import event, insert, text
from sqlalchemy.engine import Engine
from starlette.types import Message

from adapters.database import Database
from adapters.orm import items
from adapters.reads import SqlAlchemyReads
from adapters.unit_of_work import SqlAlchemyUnitOfWork
from entrypoints.api.app import create_app
from entrypoints.container import Container
from service_layer.messagebus import MessageBus, RetryPolicy, dispatch_once
from service_layer.outbox import OutboxMessage
from service_layer.services import items as item_services
from service_layer.views import ItemView, UserView
from tests.api_support import Account, make_account
from tests.integration.failure_support import (
    assert_nothing_holds_the_database,
    exchange,
    scalar,
    stock,
)
from tests.integration.units import unit_of_work
from tests.polling import eventually

EXPORT_PAGE = 500  # the page size the route uses (export_items' default)
# The keyset predicate only a page after the first carries (`WHERE items.id > :after_id`).
LATER_PAGE = re.compile(r"\bitems\.id > ")
MISSING_TABLE = "no_such_table_injected_fault"
BROKEN_ITEMS = f"FROM {MISSING_TABLE} AS items"  # the same query, failing in the database


@pytest.fixture
def database(own_pool: Database) -> Database:
    return own_pool  # a pool of the test's own: what a fault leaves behind dies with the test


class Checkouts:
    """Counts connections taken from the database's pools (its SQLite reader's included)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, *_: Any) -> None:
        self.count += 1


@pytest.fixture
def checkouts(database: Database) -> Iterator[Checkouts]:
    counter = Checkouts()
    pools = database.pools()
    for pool in pools:
        event.listen(pool, "checkout", counter)
    yield counter
    for pool in pools:
        event.remove(pool, "checkout", counter)


def _engines_behind(database: Database) -> list[Engine]:
    """Every engine that sends the database's statements: the units' engine (the read path's
    engine on PostgreSQL is derived from it and shares its listeners) and, on a SQLite file,
    the reader's."""
    reader = database.sqlite_reader
    return [database.engine.sync_engine] + ([reader.engine] if reader is not None else [])


@contextmanager
def rewritten(
    database: Database, chosen: Callable[[str], object], old: str, new: str
) -> Iterator[list[str]]:
    """Every statement ``chosen`` picks is sent with ``old`` replaced by ``new`` (its
    parameters untouched); yields the statements as they were sent."""
    hits: list[str] = []

    def rewrite(
        _conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool
    ) -> tuple[str, Any]:
        if chosen(statement):
            statement = statement.replace(old, new, 1)
            hits.append(statement)
        return statement, parameters

    behind = _engines_behind(database)
    for sync_engine in behind:
        event.listen(sync_engine, "before_cursor_execute", rewrite, retval=True)
    try:
        yield hits
    finally:
        for sync_engine in behind:
            event.remove(sync_engine, "before_cursor_execute", rewrite)


def recording_units(
    database: Database, made: list[SqlAlchemyUnitOfWork]
) -> Callable[[], SqlAlchemyUnitOfWork]:
    """Real units of work, each recorded in ``made`` as the container makes it."""

    def make() -> SqlAlchemyUnitOfWork:
        made.append(unit := unit_of_work(database))
        return unit

    return make


class RecordingReads(SqlAlchemyReads):
    """The real read port, recording the name of each call in ``calls``, in order."""

    def __init__(self, database: Database, calls: list[str]) -> None:
        super().__init__(database.reader)
        self.calls = calls

    async def item(self, item_id: int) -> ItemView | None:
        self.calls.append("item")
        return await super().item(item_id)

    async def items(
        self, *, skip: int = 0, limit: int = 100, after_id: int | None = None
    ) -> list[ItemView]:
        self.calls.append("items")
        return await super().items(skip=skip, limit=limit, after_id=after_id)

    async def items_by_ids(self, item_ids: Sequence[int]) -> list[ItemView]:
        self.calls.append("items_by_ids")
        return await super().items_by_ids(item_ids)

    async def user(self, user_id: int) -> UserView | None:
        self.calls.append("user")
        return await super().user(user_id)


@pytest.fixture
def units() -> list[SqlAlchemyUnitOfWork]:
    return []


@pytest.fixture
def read_calls() -> list[str]:
    return []


@pytest.fixture
def container(
    container: Container,
    database: Database,
    units: list[SqlAlchemyUnitOfWork],
    read_calls: list[str],
) -> Container:
    """The suite's container, keeping every unit of work it hands out and every read call."""
    container.uow.override(providers.Callable(recording_units(database, units)))
    container.reads.override(providers.Object(RecordingReads(database, read_calls)))
    return container


@pytest.fixture
async def admin_headers(
    container: Container, units: list[SqlAlchemyUnitOfWork], read_calls: list[str]
) -> dict[str, str]:
    """The export is an admin's: an admin made before the test's own counting starts."""
    admin = await make_account(container, admin=True)
    units.clear()
    read_calls.clear()
    return admin.headers


async def _add_items(database: Database, count: int) -> list[dict[str, Any]]:
    """``count`` items in one statement (the API would take a request each), as stored."""
    rows = [
        {
            "sku": f"EXP-{n:05d}",
            "title": f"Item {n}",
            "price_cents": Decimal(n) / 100,
            "quantity": n % 7,
        }
        for n in range(count)
    ]
    if rows:
        async with database.engine.begin() as connection:
            await connection.execute(insert(items), rows)
    async with database.engine.connect() as connection:
        stored = await connection.execute(
            text("SELECT id, sku, title, quantity FROM items ORDER BY id")
        )
        return [dict(row) for row in stored.mappings()]


def _lines(body: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in body.decode().splitlines()]


# ---- the export, complete and ordered ----------------------------------------------------


@pytest.mark.parametrize(("count", "pages"), [(0, 1), (1, 1), (4, 3), (5, 3)])
async def test_export_service_yields_every_item_in_id_order_one_short_read_per_page(
    database: Database, checkouts: Checkouts, count: int, pages: int
) -> None:
    """Pages of 2: a full last page costs one more (empty) page to know it was the last."""
    stored = await _add_items(database, count)
    calls: list[str] = []
    reads = RecordingReads(database, calls)

    checkouts.count = 0
    exported = []
    async for view in item_services.export_items(reads, page_size=2):
        assert database.checked_out() == 0, "a connection is held while the consumer reads"
        exported.append(view)

    assert [(v.id, v.sku, v.title, v.quantity) for v in exported] == [
        (row["id"], row["sku"], row["title"], row["quantity"]) for row in stored
    ]
    assert calls == ["items"] * pages
    assert checkouts.count == pages
    await assert_nothing_holds_the_database(database)


async def test_export_over_http_streams_every_item_in_id_order_holding_nothing_between_chunks(
    database: Database,
    container: Container,
    units: list[SqlAlchemyUnitOfWork],
    read_calls: list[str],
    checkouts: Checkouts,
    admin_headers: dict[str, str],
) -> None:
    stored = await _add_items(database, 2 * EXPORT_PAGE + 1)
    held_while_sending: list[int] = []

    async def watch(message: Message) -> None:
        if message["type"] == "http.response.body":
            held_while_sending.append(database.checked_out())

    checkouts.count = 0
    result = await exchange(
        create_app(container), "GET", "/items/export", headers=admin_headers, on_send=watch
    )

    assert result.error is None
    assert result.status == 200
    assert result.headers["content-type"] == "application/x-ndjson"
    assert result.finished
    assert [(line["id"], line["sku"], line["quantity"]) for line in _lines(result.body)] == [
        (row["id"], row["sku"], row["quantity"]) for row in stored
    ]
    # The admin's account, then one short read for each page of 500.
    assert read_calls == ["user"] + ["items"] * 3
    assert units == [], "the export opened a unit of work"
    assert checkouts.count == 1 + 3
    assert len(held_while_sending) == len(stored) + 1
    assert set(held_while_sending) == {0}
    await assert_nothing_holds_the_database(database)


# ---- the export, ending badly ------------------------------------------------------------


async def test_a_stream_whose_second_page_fails_in_the_database_leaves_nothing_open(
    database: Database, container: Container, admin_headers: dict[str, str]
) -> None:
    stored = await _add_items(database, EXPORT_PAGE + 3)

    with rewritten(database, LATER_PAGE.search, "FROM items", BROKEN_ITEMS) as hits:
        result = await exchange(
            create_app(container), "GET", "/items/export", headers=admin_headers
        )

    assert len(hits) == 1, "the second page was never asked for"
    assert result.error is not None, "the failure vanished instead of reaching the server"
    assert MISSING_TABLE in str(result.error)
    assert result.status == 200  # the first page was on its way before the second failed
    assert not result.finished, "a truncated export must not be ended as if complete"
    assert [line["id"] for line in _lines(result.body)] == [
        row["id"] for row in stored[:EXPORT_PAGE]
    ]
    await assert_nothing_holds_the_database(database)


async def test_a_client_that_vanishes_between_pages_leaves_nothing_open(
    database: Database,
    container: Container,
    read_calls: list[str],
    admin_headers: dict[str, str],
) -> None:
    await _add_items(database, 2 * EXPORT_PAGE + 1)
    gone = asyncio.Event()
    sent = 0

    async def vanish_after_ten_lines(message: Message) -> None:
        nonlocal sent
        if message["type"] == "http.response.body":
            sent += 1
            if sent == 10:
                gone.set()
            await asyncio.sleep(0)  # a real socket write yields to the loop

    result = await exchange(
        create_app(container),
        "GET",
        "/items/export",
        headers=admin_headers,
        on_send=vanish_after_ten_lines,
        disconnect=gone,
    )

    assert result.error is None
    assert not result.finished
    assert 10 <= sent < EXPORT_PAGE, "the stream went on after the client left"
    assert read_calls == ["user", "items"], "a page was read for a client that had gone"
    await assert_nothing_holds_the_database(database)


@pytest.mark.postgres
@pytest.mark.parametrize("own_pool", ["postgres"], indirect=True)
async def test_a_client_that_vanishes_while_a_page_is_read_leaves_nothing_open(
    database: Database, container: Container, admin_headers: dict[str, str]
) -> None:
    """The client leaves while the second page's query runs in the server (the query is made
    to take 30 s): the request is cancelled inside the read, and the connection must still
    come back, with no transaction left open and the abandoned query no longer running."""
    await _add_items(database, EXPORT_PAGE + 1)
    reading = asyncio.Event()

    def signal_reading(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if LATER_PAGE.search(statement):
            reading.set()

    # On PostgreSQL the read path's engine is derived from this one and shares its listeners.
    engine = database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", signal_reading)
    try:
        with rewritten(
            database, LATER_PAGE.search, "FROM items", "FROM items, pg_sleep(30)"
        ) as hits:
            result = await exchange(
                create_app(container),
                "GET",
                "/items/export",
                headers=admin_headers,
                disconnect=reading,
            )
    finally:
        event.remove(engine, "before_cursor_execute", signal_reading)

    assert len(hits) == 1
    assert result.error is None
    assert not result.finished

    async def the_server_dropped_the_cancelled_query() -> bool:  # within moments
        return await _sleeping_backends(database) == 0

    await eventually(the_server_dropped_the_cancelled_query)
    assert await _sleeping_backends(database) == 0, "the abandoned page query is still running"
    await assert_nothing_holds_the_database(database)


async def _sleeping_backends(database: Database) -> int:
    return await scalar(
        database,
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE state = 'active' AND query LIKE '%pg_sleep(30)%' AND pid <> pg_backend_pid()",
    )


# ---- the low-stock alert after a sale ----------------------------------------------------


def _alerts() -> float:
    value = REGISTRY.get_sample_value("stockroom_low_stock_alerts_total")
    return 0.0 if value is None else value


async def _create(container: Container, admin: Account, sku: str, quantity: int) -> None:
    result = await exchange(
        create_app(container),
        "POST",
        "/items/",
        headers=admin.headers,
        json_body={"title": sku, "sku": sku, "quantity": quantity},
    )
    assert result.status == 201, result.body


class AfterTheResponse:
    """Watches a request's messages; records what happens once the body has been sent."""

    def __init__(
        self, units: list[SqlAlchemyUnitOfWork], read_calls: list[str], checkouts: Checkouts
    ) -> None:
        self.units = units
        self.read_calls = read_calls
        self.checkouts = checkouts
        self.sent = False
        self.units_before: list[SqlAlchemyUnitOfWork] = []
        self.reads_before: list[str] = []
        self.checkouts_before = 0

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            self.sent = True
            self.units_before = list(self.units)
            self.reads_before = list(self.read_calls)
            self.checkouts_before = self.checkouts.count

    @property
    def units_after(self) -> list[SqlAlchemyUnitOfWork]:
        return self.units[len(self.units_before) :]

    @property
    def reads_after(self) -> list[str]:
        return self.read_calls[len(self.reads_before) :]

    @property
    def checkouts_after(self) -> int:
        return self.checkouts.count - self.checkouts_before


async def test_the_low_stock_alert_is_the_stock_low_handler_run_from_the_outbox(
    database: Database,
    container: Container,
    units: list[SqlAlchemyUnitOfWork],
    read_calls: list[str],
    checkouts: Checkouts,
    admin: Account,
    customer: Account,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The sale commits its stock.low events with the order; the response waits for no
    handler; the dispatcher, later and from the outbox alone, runs the alert once per item
    the sale left at or below the threshold."""
    threshold = container.settings().low_stock_threshold
    assert threshold == 5  # the default the alert is specified against
    for sku in ("ABOVE", "AT", "BELOW", "EMPTY"):
        await _create(container, admin, sku, 7)
    alerts_before = _alerts()
    units.clear()
    after = AfterTheResponse(units, read_calls, checkouts)

    order = {
        "lines": [
            {"sku": "ABOVE", "quantity": 1},  # 6 left: above the threshold
            {"sku": "AT", "quantity": 2},  # 5 left: at it
            {"sku": "BELOW", "quantity": 3},  # 4 left
            {"sku": "EMPTY", "quantity": 7},  # 0 left
        ]
    }
    result = await exchange(
        create_app(container),
        "POST",
        "/orders/",
        headers=customer.headers,
        json_body=order,
        on_send=after,
    )

    assert result.error is None
    assert result.status == 201, result.body
    assert after.sent
    assert await stock(database) == {"ABOVE": 6, "AT": 5, "BELOW": 4, "EMPTY": 0}
    # Nothing ran after the response: no unit, no read, no connection; no alert yet.
    assert after.units_before, "the request used no unit of work"
    assert after.units_after == [], "a unit of work ran after the response"
    assert after.reads_after == []
    assert after.checkouts_after == 0
    assert _alerts() == alerts_before

    with caplog.at_level(logging.WARNING, logger="service_layer.handlers"):
        handled = await dispatch_once(container.uow, container.message_bus())

    assert handled == 3
    assert _alerts() - alerts_before == 3
    assert sorted(r.getMessage() for r in caplog.records if r.name == "service_layer.handlers") == [
        "low stock: AT (AT) has 5 left",
        "low stock: BELOW (BELOW) has 4 left",
        "low stock: EMPTY (EMPTY) has 0 left",
    ]
    assert await dispatch_once(container.uow, container.message_bus()) == 0  # once each
    assert _alerts() - alerts_before == 3
    await assert_nothing_holds_the_database(database)


async def test_a_sale_that_leaves_enough_stock_owes_no_alert(
    database: Database,
    container: Container,
    units: list[SqlAlchemyUnitOfWork],
    read_calls: list[str],
    checkouts: Checkouts,
    admin: Account,
    customer: Account,
) -> None:
    """A sale that leaves every item above the threshold records no stock.low: no work after
    the response, and nothing for the alert to do later."""
    await _create(container, admin, "PLENTY", 7)
    alerts_before = _alerts()
    units.clear()
    after = AfterTheResponse(units, read_calls, checkouts)

    result = await exchange(
        create_app(container),
        "POST",
        "/orders/",
        headers=customer.headers,
        json_body={"lines": [{"sku": "PLENTY", "quantity": 1}]},  # 6 left: above 5
        on_send=after,
    )

    assert result.error is None
    assert result.status == 201, result.body
    assert after.sent
    assert await stock(database) == {"PLENTY": 6}
    assert after.units_after == [], "a unit of work ran after the response"
    assert after.reads_after == [], "a read ran after the response"
    assert after.checkouts_after == 0, "a connection was used after the response"
    assert await dispatch_once(container.uow, container.message_bus()) == 0
    assert _alerts() == alerts_before


async def test_a_failing_alert_keeps_the_sale_is_retried_and_holds_nothing(
    database: Database,
    container: Container,
    admin: Account,
    customer: Account,
) -> None:
    """The alert fails (its handler raises): the sale is committed and answered already, so
    nothing changes for the client; the call is retried after its backoff, and then alerts."""
    await _create(container, admin, "LAST", 1)
    alerts_before = _alerts()
    result = await exchange(
        create_app(container),
        "POST",
        "/orders/",
        headers=customer.headers,
        json_body={"lines": [{"sku": "LAST", "quantity": 1}]},
    )
    assert result.status == 201, result.body

    async def broken(_message: OutboxMessage) -> None:
        raise RuntimeError("the alert broke")

    now = datetime.now(UTC)
    failing = MessageBus({"stock.low": {"low_stock_alert": broken}})
    assert await dispatch_once(container.uow, failing, now=now) == 1
    assert _alerts() == alerts_before
    assert await stock(database) == {"LAST": 0}
    assert await scalar(database, "SELECT count(*) FROM orders") == 1
    await assert_nothing_holds_the_database(database)

    later = now + RetryPolicy().first_delay
    assert await dispatch_once(container.uow, container.message_bus(), now=later) == 1
    assert _alerts() - alerts_before == 1
    await assert_nothing_holds_the_database(database)
