"""``items export``, ``stock report`` and ``orders list`` as an operator runs them: the console
script in its own process, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from adapters.database import Database
from domain.order import LineRequest
from domain.user import Role, User
from service_layer.actor import Actor
from service_layer.services.items import NewItem, add_item
from service_layer.services.orders import cancel_order, place_order
from tests.integration.cli_support import Target, stockroom
from tests.integration.units import unit_of_work


def rows(stdout: str) -> list[list[str]]:
    return [
        [cell.strip() for cell in line.strip().strip("│").split("│")]
        for line in stdout.splitlines()
        if line.startswith("│")
    ]


async def seed(database: Database) -> tuple[str, list[int]]:
    """Three items, a customer with two orders (the newer cancelled); their email and order ids."""
    for sku, quantity, price, description in (
        ("S-1", 9, "2.50", "about it"),
        ("S-2", 0, "1.00", None),
        ("S-3", 4, "12.00", "about it"),
    ):
        new = NewItem(f"Item {sku}", sku, description, Decimal(price), quantity)
        await add_item(unit_of_work(database), new)
    customer = User("buyer@example.com", "not-a-hash", role=Role.CUSTOMER)
    async with unit_of_work(database) as uow:
        await uow.users.add(customer)
        await uow.commit()
    assert customer.id is not None
    buyer = Actor(customer.id)
    first = await place_order(unit_of_work(database), buyer, [LineRequest("S-1", 2)])
    second = await place_order(unit_of_work(database), buyer, [LineRequest("S-3", 1)])
    await cancel_order(unit_of_work(database), buyer, second.id)
    return customer.email, [first.id, second.id]


async def test_export_report_and_orders_on_a_real_database(target: Target, tmp_path: Path) -> None:
    email, (first, second) = await seed(target.database)
    exported = tmp_path / "catalog.jsonl"

    export = stockroom("items", "export", "-o", str(exported), url=target.url)
    csv_out = stockroom("items", "export", url=target.url)
    report = stockroom("stock", "report", "--below", "5", url=target.url)
    orders = stockroom("orders", "list", "--customer", email, url=target.url)
    cancelled = stockroom("orders", "list", "--status", "cancelled", url=target.url)

    assert export.returncode == 0, export.stderr
    assert [json.loads(line) for line in exported.read_text(encoding="utf-8").splitlines()] == [
        {
            "sku": "S-1",
            "title": "Item S-1",
            "price": "2.50",
            "quantity": 7,
            "description": "about it",
        },
        {"sku": "S-2", "title": "Item S-2", "price": "1.00", "quantity": 0, "description": None},
        {
            "sku": "S-3",
            "title": "Item S-3",
            "price": "12.00",
            "quantity": 4,
            "description": "about it",
        },
    ]
    assert csv_out.stdout.splitlines() == [
        "sku,title,price,quantity,description",
        "S-1,Item S-1,2.50,7,about it",
        "S-2,Item S-2,1.00,0,",
        "S-3,Item S-3,12.00,4,about it",
    ]
    assert report.returncode == 0, report.stderr
    assert [row[1:] for row in rows(report.stdout)] == [
        ["S-2", "Item S-2", "0"],
        ["S-3", "Item S-3", "4"],
    ]
    assert orders.returncode == 0, orders.stderr
    assert [row[0] for row in rows(orders.stdout)] == [str(second), str(first)]
    assert [row[2:5] for row in rows(orders.stdout)] == [
        ["cancelled", "1", "12.00"],
        ["placed", "1", "5.00"],
    ]
    assert [row[0] for row in rows(cancelled.stdout)] == [str(second)]


def test_orders_of_an_unknown_customer_is_one_line_and_exit_1(target: Target) -> None:
    result = stockroom("orders", "list", "--customer", "nobody@example.com", url=target.url)

    assert result.returncode == 1
    assert result.stderr.strip() == "error: no account has the email nobody@example.com"
    assert result.stdout == ""


def test_an_export_under_a_file_is_one_line_and_leaves_nothing(
    target: Target, tmp_path: Path
) -> None:
    """A path no one can write, whoever runs the test (root ignores permission bits)."""
    not_a_folder = tmp_path / "notes.txt"
    not_a_folder.write_text("a file, not a folder\n")
    unwritable = not_a_folder / "items.csv"

    result = stockroom("items", "export", "-o", str(unwritable), url=target.url)

    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"error: cannot write {unwritable}: Not a directory"
    ]
    assert [path.name for path in tmp_path.iterdir()] == ["notes.txt"]
