"""The Typer CLI on the fake unit of work: the same use cases, with exit codes scripts rely on.

Plain ``def`` tests: every command runs its use case under its own ``asyncio.run``.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from typer.testing import CliRunner

from domain.item import MAX_QUANTITY, SKU_PATTERN
from entrypoints.cli import app
from entrypoints.container import Container
from service_layer.services.items import MAX_PAGE_SIZE
from tests.factories import item_payload
from tests.fakes import InMemoryStore
from tests.unit.cli_support import Run, table_rows
from tests.unit.health_support import StandInDatabase
from tests.unit.support import item_id, seed, snapshot


def seed_items(store: InMemoryStore, count: int = 1, **fields: object) -> list[list[str]]:
    """Commit items and return them as the CLI's table would show them."""
    items = asyncio.run(seed(store, count, **fields))
    return [
        [str(item_id(item)), item.sku, item.title, f"{item.price:.2f}", str(item.quantity)]
        for item in items
    ]


# --- items add -------------------------------------------------------------------------------


def test_items_add_stores_the_item_and_prints_it(
    run: Run, store: InMemoryStore, database: StandInDatabase
) -> None:
    payload = item_payload(price="19.9", quantity=3)

    result = run(
        "items",
        "add",
        "--title",
        payload["title"],
        "--sku",
        f" {payload['sku']} ",
        "--price",
        payload["price"],
        "--quantity",
        str(payload["quantity"]),
        "--description",
        payload["description"],
    )

    assert result.exit_code == 0, result.output
    sku = payload["sku"].upper()
    (new_id,) = store.items
    assert snapshot(store) == {
        new_id: (sku, payload["title"], payload["description"], Decimal("19.90"), 3)
    }
    assert table_rows(result.stdout) == [[str(new_id), sku, payload["title"], "19.90", "3"]]
    assert database.disposals == 1


def test_items_add_with_only_a_title_generates_a_sku(run: Run, store: InMemoryStore) -> None:
    result = run("items", "add", "--title", "Bare item")

    assert result.exit_code == 0, result.output
    (item,) = store.items.values()
    assert SKU_PATTERN.fullmatch(item.sku)
    assert (item.price, item.quantity, item.description) == (Decimal("0"), 0, None)
    assert table_rows(result.stdout) == [[str(item.id), item.sku, "Bare item", "0.00", "0"]]


def test_items_add_with_a_taken_sku_exits_1_and_stores_nothing(
    run: Run, store: InMemoryStore, database: StandInDatabase
) -> None:
    seed_items(store, sku="CLI-TAKEN-1")
    before = snapshot(store)

    result = run("items", "add", "--title", "Second", "--sku", "cli-taken-1")

    assert result.exit_code == 1
    assert "error" in result.stderr
    assert "CLI-TAKEN-1" in result.stderr
    assert table_rows(result.stdout) == []
    assert snapshot(store) == before
    assert database.disposals == 1


@pytest.mark.parametrize("price", ["abc", "1,50"])
def test_items_add_with_an_unparseable_price_exits_2_and_stores_nothing(
    run: Run, store: InMemoryStore, price: str
) -> None:
    result = run("items", "add", "--title", "Priced", "--price", price)

    assert result.exit_code == 2
    assert "--price" in result.stderr
    assert store.items == {}


# The rules themselves are tested on the domain; here, one refusal per option reaches exit 1.
@pytest.mark.parametrize(
    "args", [("--price", "1.234"), ("--quantity", "-1"), ("--sku", "not a sku"), ("--title", " ")]
)
def test_items_add_with_a_value_the_domain_refuses_exits_1_and_stores_nothing(
    run: Run, store: InMemoryStore, args: tuple[str, str]
) -> None:
    result = run("items", "add", "--title", "Valid title", *args)

    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit), repr(result.exception)  # not a crash
    assert "error" in result.stderr
    assert store.items == {}


def test_items_add_without_a_title_exits_2(run: Run, store: InMemoryStore) -> None:
    result = run("items", "add", "--sku", "no-title-1")

    assert result.exit_code == 2
    assert store.items == {}


def test_items_add_prints_a_title_with_square_brackets_as_given(
    run: Run, store: InMemoryStore
) -> None:
    """BUG: the item table renders user text as rich markup. "[bold]" vanishes from the
    output, and "[/x]" raises MarkupError after the item was committed (exit 1, traceback),
    after which every `items list` that includes it crashes too."""
    title = "Box [/x] of [bold]bolts[/bold]"

    result = run("items", "add", "--title", title)

    assert len(store.items) == 1
    assert result.exit_code == 0, repr(result.exception)
    assert [row[2] for row in table_rows(result.stdout)] == [title]


# --- items list ------------------------------------------------------------------------------


def test_items_list_prints_every_item_in_id_order(run: Run, store: InMemoryStore) -> None:
    rows = seed_items(store, 3)

    result = run("items", "list")

    assert result.exit_code == 0, result.output
    assert table_rows(result.stdout) == rows


def test_items_list_of_an_empty_catalog_prints_no_rows(run: Run) -> None:
    result = run("items", "list")

    assert result.exit_code == 0, result.output
    assert table_rows(result.stdout) == []


def test_items_list_pages_with_skip_and_limit(run: Run, store: InMemoryStore) -> None:
    rows = seed_items(store, 4)

    result = run("items", "list", "--skip", "1", "--limit", "2")

    assert result.exit_code == 0, result.output
    assert table_rows(result.stdout) == rows[1:3]


@pytest.mark.parametrize("args", [("--limit", str(MAX_PAGE_SIZE + 1)), ("--skip", "-1")])
def test_items_list_with_out_of_range_paging_exits_2(run: Run, args: tuple[str, str]) -> None:
    result = run("items", "list", *args)

    assert result.exit_code == 2
    assert args[0] in result.stderr


# --- items restock ---------------------------------------------------------------------------


def test_items_restock_adds_to_stock_and_prints_the_item(
    run: Run, store: InMemoryStore, database: StandInDatabase
) -> None:
    (row,) = seed_items(store, quantity=4)

    result = run("items", "restock", row[0], "6")

    assert result.exit_code == 0, result.output
    assert store.items[int(row[0])].quantity == 10
    assert table_rows(result.stdout) == [[*row[:4], "10"]]
    assert database.disposals == 1


def test_items_restock_unknown_item_exits_1_and_changes_nothing(
    run: Run, store: InMemoryStore, database: StandInDatabase
) -> None:
    seed_items(store)
    before = snapshot(store)

    result = run("items", "restock", "999", "5")

    assert result.exit_code == 1
    assert "error" in result.stderr
    assert "999" in result.stderr
    assert snapshot(store) == before
    assert database.disposals == 1  # the database is disposed on the way out of a failure too


def test_items_restock_with_a_quantity_that_is_not_a_number_exits_2(
    run: Run, store: InMemoryStore
) -> None:
    (row,) = seed_items(store, quantity=4)
    before = snapshot(store)

    result = run("items", "restock", row[0], "many")

    assert result.exit_code == 2
    assert snapshot(store) == before


@pytest.mark.parametrize("quantity", ["0", "-3"])
def test_items_restock_with_a_non_positive_quantity_gets_the_domain_rule(
    run: Run, store: InMemoryStore, quantity: str
) -> None:
    """BUG: "-3" was taken for an option ("No such option: -3"); it is a number, and the
    domain's rule says what is wrong with it."""
    (row,) = seed_items(store, quantity=4)
    before = snapshot(store)

    result = run("items", "restock", row[0], quantity)

    assert result.exit_code == 1, result.output
    assert result.stderr.strip() == "error: restock quantity must be a positive whole number"
    assert snapshot(store) == before


def test_items_restock_past_the_maximum_stock_exits_1_and_changes_nothing(
    run: Run, store: InMemoryStore
) -> None:
    (row,) = seed_items(store, quantity=MAX_QUANTITY - 1)
    before = snapshot(store)

    result = run("items", "restock", row[0], "2")

    assert result.exit_code == 1
    assert "error" in result.stderr
    assert snapshot(store) == before


def test_commands_share_the_container_store(run: Run, store: InMemoryStore) -> None:
    added = run("items", "add", "--title", "Shared", "--sku", "shared-1", "--quantity", "1")
    (new_id,) = store.items
    restocked = run("items", "restock", str(new_id), "2")
    listed = run("items", "list")

    assert (added.exit_code, restocked.exit_code, listed.exit_code) == (0, 0, 0)
    assert table_rows(listed.stdout) == [[str(new_id), "SHARED-1", "Shared", "0.00", "3"]]


# --- users create-admin ----------------------------------------------------------------------


def _login(container: Container, email: str, password: str) -> bool:
    from domain.errors import InvalidCredentials
    from service_layer.services import users as user_services

    try:
        asyncio.run(
            user_services.authenticate(
                container.uow(), container.password_hasher(), email, password
            )
        )
    except InvalidCredentials:
        return False
    return True


def test_create_admin_takes_the_password_from_the_environment(
    container: Container, store: InMemoryStore
) -> None:
    runner = CliRunner(env={"STOCKROOM_ADMIN_PASSWORD": "from the environment"})
    result = runner.invoke(app, ["users", "create-admin", "Root@Example.com"], obj=container)

    assert result.exit_code == 0, result.output
    assert "created admin root@example.com" in result.stdout
    (user,) = store.users.values()
    assert (user.email, user.role.value, user.is_active) == ("root@example.com", "admin", True)
    assert "from the environment" not in result.output
    assert _login(container, "root@example.com", "from the environment")


def test_create_admin_prompts_twice_without_echo(
    container: Container, store: InMemoryStore
) -> None:
    runner = CliRunner(env={"STOCKROOM_ADMIN_PASSWORD": None})
    result = runner.invoke(
        app,
        ["users", "create-admin", "typed@example.com"],
        obj=container,
        input="typed password\ntyped password\n",
    )
    assert result.exit_code == 0, result.output
    assert "typed password" not in result.output
    assert _login(container, "typed@example.com", "typed password")


def test_create_admin_refuses_an_existing_account_without_promote(
    container: Container, store: InMemoryStore
) -> None:
    from service_layer.services import users as user_services

    asyncio.run(
        user_services.register(
            container.uow(), container.password_hasher(), "early@example.com", "old password"
        )
    )
    runner = CliRunner(env={"STOCKROOM_ADMIN_PASSWORD": "new password"})
    result = runner.invoke(app, ["users", "create-admin", "early@example.com"], obj=container)

    assert result.exit_code == 1
    assert "--promote" in result.output
    assert [user.role.value for user in store.users.values()] == ["customer"]
    assert _login(container, "early@example.com", "old password")


def test_create_admin_promotes_an_existing_customer_instead_of_duplicating(
    container: Container, store: InMemoryStore
) -> None:
    from service_layer.services import users as user_services

    customer = asyncio.run(
        user_services.register(
            container.uow(), container.password_hasher(), "cust@example.com", "old password"
        )
    )
    runner = CliRunner(env={"STOCKROOM_ADMIN_PASSWORD": "new password"})
    result = runner.invoke(
        app, ["users", "create-admin", "CUST@example.com", "--promote"], obj=container
    )

    assert result.exit_code == 0, result.output
    assert f"promoted admin cust@example.com (id {customer.id})" in result.stdout
    assert [user.role.value for user in store.users.values()] == ["admin"]
    assert _login(container, "cust@example.com", "new password")
    assert not _login(container, "cust@example.com", "old password")


def test_create_admin_refuses_a_short_password_and_stores_nothing(
    container: Container, store: InMemoryStore
) -> None:
    runner = CliRunner(env={"STOCKROOM_ADMIN_PASSWORD": "short"})
    result = runner.invoke(app, ["users", "create-admin", "x@example.com"], obj=container)
    assert result.exit_code == 1
    assert "at least 8" in result.output
    assert store.users == {}


def test_create_admin_help_does_not_call_the_prompted_password_required() -> None:
    """BUG: --help marked --password [required], though the command prompts for it."""
    result = CliRunner(env={"COLUMNS": "250", "NO_COLOR": "1"}).invoke(
        app, ["users", "create-admin", "--help"]
    )

    assert result.exit_code == 0
    [password_row] = [line for line in result.stdout.splitlines() if "--password" in line]
    assert "required" not in password_row
    assert "[required]" not in result.stdout.split("--password", 1)[1].split("--help", 1)[0]


# --- the command itself ----------------------------------------------------------------------


def test_version() -> None:
    from importlib.metadata import version

    result = CliRunner().invoke(app, ["--version"])

    assert result.exit_code == 0
    assert result.stdout == f"stockroom {version('stockroom')}\n"
