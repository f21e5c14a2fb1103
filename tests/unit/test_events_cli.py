"""``stockroom events list|retry`` on the fakes: parked handler calls are listed with their
error and made due again, by position or all at once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from service_layer.messagebus import MessageBus, RetryPolicy, dispatch_once
from service_layer.outbox import OutboxMessage
from service_layer.services import orders as order_services
from tests.fakes import FakeUnitOfWork, InMemoryStore
from tests.unit.cli_support import Run, table_rows
from tests.unit.order_support import add_user, lines, shelf

T0 = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


async def _broken(_message: OutboxMessage) -> None:
    raise RuntimeError("the mail server is away")


async def _two_parked(store: InMemoryStore) -> list[int]:
    """Two orders whose one handler call each is parked at once (one attempt allowed)."""
    actor = await add_user(store)
    await shelf(store, ("CUP", 10, "3.00"))
    placed = [
        await order_services.place_order(FakeUnitOfWork(store), actor, lines(("CUP", 1)))
        for _ in range(2)
    ]
    bus = MessageBus({"order.placed": {"mailer": _broken}})
    await dispatch_once(
        lambda: FakeUnitOfWork(store), bus, now=T0, policy=RetryPolicy(max_attempts=1)
    )
    return [order.id for order in placed]


def _due(store: InMemoryStore) -> list[int]:
    return sorted(row.position for row in store.events.handling.values() if row.parked_at is None)


def test_list_shows_each_parked_call_with_its_error(run: Run, store: InMemoryStore) -> None:
    first, second = asyncio.run(_two_parked(store))

    result = run("events", "list")

    assert result.exit_code == 0, result.output
    error = "RuntimeError: the mail server is away"
    assert [row[1:] for row in table_rows(result.stdout)] == [
        ["order.placed", f"orders/{order}", "mailer", "1", T0.isoformat(), error]
        for order in (first, second)
    ]


def test_retry_by_position_releases_that_event_only(run: Run, store: InMemoryStore) -> None:
    asyncio.run(_two_parked(store))
    first_position = table_rows(run("events", "list").stdout)[0][0]

    result = run("events", "retry", first_position)

    assert result.exit_code == 0, result.output
    assert "1 parked calls are due again" in result.stdout
    assert _due(store) == [int(first_position)]
    assert len(table_rows(run("events", "list").stdout)) == 1


def test_retry_all_releases_every_parked_call(run: Run, store: InMemoryStore) -> None:
    asyncio.run(_two_parked(store))

    result = run("events", "retry", "--all")

    assert result.exit_code == 0, result.output
    assert "2 parked calls are due again" in result.stdout
    assert table_rows(run("events", "list").stdout) == []


def test_retry_wants_positions_or_all(run: Run, store: InMemoryStore) -> None:
    for args in ((), ("1", "--all")):
        result = run("events", "retry", *args)
        assert result.exit_code != 0
        assert "name the events' positions, or --all" in result.stderr
