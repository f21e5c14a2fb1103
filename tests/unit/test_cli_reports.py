"""``stockroom stock report`` and ``stockroom orders list`` on the fakes."""

from __future__ import annotations

import asyncio

import pytest

from service_layer.actor import Actor
from service_layer.services import orders as order_services
from service_layer.views import OrderView
from tests.fakes import FakeUnitOfWork, InMemoryStore
from tests.unit.cli_support import Run, table_rows
from tests.unit.health_support import StandInDatabase
from tests.unit.order_support import add_user, lines, shelf
from tests.unit.support import item_id, seed_one


def stock_rows(store: InMemoryStore, *quantities: int) -> list[list[str]]:
    """Items with these quantities, as the report prints them (id, sku, title, quantity)."""
    rows = []
    for quantity in quantities:
        item = asyncio.run(seed_one(store, quantity=quantity))
        rows.append([str(item_id(item)), item.sku, item.title, str(quantity)])
    return rows


# --- stock report ----------------------------------------------------------------------------


def test_stock_report_lists_lowest_stock_first(run: Run, store: InMemoryStore) -> None:
    rows = stock_rows(store, 9, 0, 4)

    result = run("stock", "report")

    assert result.exit_code == 0, result.output
    assert table_rows(result.stdout) == [rows[1], rows[2], rows[0]]
    assert result.stderr == ""


def test_stock_report_below_n_shows_fewer_than_n(run: Run, store: InMemoryStore) -> None:
    rows = stock_rows(store, 5, 4, 6, 0)

    result = run("stock", "report", "--below", "5")

    assert result.exit_code == 0, result.output
    assert table_rows(result.stdout) == [rows[3], rows[1]]


def test_stock_report_says_on_stderr_when_the_limit_cut_it_short(
    run: Run, store: InMemoryStore
) -> None:
    rows = stock_rows(store, 1, 2, 3)

    result = run("stock", "report", "--limit", "2")

    assert result.exit_code == 0, result.output
    assert table_rows(result.stdout) == rows[:2]
    assert result.stderr.strip() == (
        "more items match: showing the first 2; raise --limit to see more"
    )


def test_stock_report_prints_a_bracketed_title_as_given(run: Run, store: InMemoryStore) -> None:
    asyncio.run(seed_one(store, title="Crate [/x] of [bold]nails", quantity=1))

    result = run("stock", "report")

    assert result.exit_code == 0, repr(result.exception)
    assert [row[2] for row in table_rows(result.stdout)] == ["Crate [/x] of [bold]nails"]


@pytest.mark.parametrize("args", [("--below", "-1"), ("--below", "few"), ("--limit", "0")])
def test_stock_report_with_a_bad_number_is_a_usage_error(run: Run, args: tuple[str, str]) -> None:
    result = run("stock", "report", *args)

    assert result.exit_code == 2
    assert f"Invalid value for '{args[0]}'" in result.stderr


# --- orders list -----------------------------------------------------------------------------


@pytest.fixture
def orders(store: InMemoryStore) -> tuple[str, list[OrderView]]:
    """Alice's two orders (the newer one cancelled) and Bob's one; Alice's email."""

    async def make() -> tuple[str, list[OrderView]]:
        await shelf(store, ("O-1", 20, "2.50"), ("O-2", 20, "1.25"))
        alice, bob = await add_user(store), await add_user(store)

        async def place(actor: Actor, *wanted: tuple[str, int]) -> OrderView:
            uow = FakeUnitOfWork(store)
            return await order_services.place_order(uow, actor, lines(*wanted))

        first = await place(alice, ("O-1", 2), ("O-2", 1))
        second = await place(bob, ("O-2", 4))
        third = await place(alice, ("O-1", 1))
        cancelled = await order_services.cancel_order(FakeUnitOfWork(store), alice, third.id)
        return store.users[alice.user_id].email, [first, second, cancelled]

    return asyncio.run(make())


def order_row(order: OrderView) -> list[str]:
    created = order.created_at.isoformat(timespec="seconds")
    lines_count, total = str(len(order.lines)), f"{order.total:.2f}"
    return [str(order.id), str(order.customer_id), order.status.value, lines_count, total, created]


def test_orders_list_shows_every_order_newest_first(
    run: Run, orders: tuple[str, list[OrderView]]
) -> None:
    _, placed = orders

    result = run("orders", "list")

    assert result.exit_code == 0, result.output
    assert table_rows(result.stdout) == [order_row(order) for order in reversed(placed)]
    assert [row[3:5] for row in table_rows(result.stdout)] == [
        ["1", "2.50"],
        ["1", "5.00"],
        ["2", "6.25"],
    ]


def test_orders_list_filters_by_customer_email_and_status(
    run: Run, orders: tuple[str, list[OrderView]]
) -> None:
    alice, placed = orders

    hers = run("orders", "list", "--customer", alice.upper())
    placed_only = run("orders", "list", "--status", "placed")
    hers_placed = run("orders", "list", "--customer", alice, "--status", "PLACED", "--limit", "5")

    assert table_rows(hers.stdout) == [order_row(placed[2]), order_row(placed[0])]
    assert table_rows(placed_only.stdout) == [order_row(placed[1]), order_row(placed[0])]
    assert table_rows(hers_placed.stdout) == [order_row(placed[0])]


def test_orders_list_limit_keeps_the_newest(run: Run, orders: tuple[str, list[OrderView]]) -> None:
    _, placed = orders

    result = run("orders", "list", "--limit", "1")

    assert table_rows(result.stdout) == [order_row(placed[2])]


def test_orders_list_for_an_unknown_email_is_one_line_and_exit_1(
    run: Run, orders: tuple[str, list[OrderView]], database: StandInDatabase
) -> None:
    result = run("orders", "list", "--customer", "nobody@example.com")

    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.stderr.strip() == "error: no account has the email nobody@example.com"
    assert result.stdout == ""
    assert database.disposals == 1


def test_orders_list_for_a_malformed_email_is_one_line_and_exit_1(run: Run) -> None:
    result = run("orders", "list", "--customer", "not an email")

    assert result.exit_code == 1
    assert result.stderr.strip() == "error: email must be a valid address"


def test_orders_list_with_an_unknown_status_is_a_usage_error(run: Run) -> None:
    result = run("orders", "list", "--status", "lost")

    assert result.exit_code == 2
    assert "Invalid value for '--status'" in result.stderr
