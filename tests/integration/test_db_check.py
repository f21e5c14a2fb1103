"""``stockroom db check`` as an operator runs it (the real console script, a real PostgreSQL and
PgBouncers of the suite's own): what it reports, and the exit code a deployment script reads."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from adapters.database import Database
from entrypoints import migrations
from tests.integration.cli_support import database_name, stockroom
from tests.integration.conftest import POSTGRES_URL, ReplicatedDatabase
from tests.integration.failure_support import asyncpg_dsn
from tests.integration.servers import PgBouncer, free_port

HEAD = migrations.head_revision(POSTGRES_URL)


def rows(output: str) -> dict[str, str]:
    """The fact table ``db check`` prints: name -> value."""
    table = {}
    for line in output.splitlines():
        name, _, value = line.strip().partition("  ")
        if value and not line.startswith(("problem:", "note:")):
            table[name] = value.strip()
    return table


def problems(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("problem: ")]


async def server_setting(name: str) -> int:
    admin = await asyncpg.connect(asyncpg_dsn(POSTGRES_URL), timeout=5)
    try:
        return int(await admin.fetchval(f"SHOW {name}"))
    finally:
        await admin.close()


@pytest.fixture
async def available_connections() -> int:
    """max_connections minus the reserved ones, read by the test, not by the code under test."""
    return await server_setting("max_connections") - await server_setting(
        "superuser_reserved_connections"
    )


# --- healthy ---------------------------------------------------------------------------------


@pytest.mark.postgres
async def test_a_migrated_database_reached_directly_passes(
    postgres_database: Database, postgres_url: str
) -> None:
    max_connections = await server_setting("max_connections")

    checked = stockroom("db", "check", "--workers", "3", url=postgres_url)

    assert checked.returncode == 0, checked.stdout + checked.stderr
    table = rows(checked.stdout)
    assert table["server"].startswith("PostgreSQL ")
    assert table["max_connections"].startswith(f"{max_connections} (")
    assert table["pooler"] == "none detected"
    assert table["STOCKROOM_DATABASE_POOLER"] == "none"
    budget = "33 = 1 host(s) x 3 worker(s) x (pool 10 + overflow 0 + 1 health check)"
    assert table["connection budget"] == budget
    assert table["schema"] == f"{HEAD} (at head)"
    assert checked.stdout.splitlines()[-1] == "ok"


@pytest.mark.postgres
@pytest.mark.parametrize("mode", ["transaction", "session"])
def test_a_pooler_with_the_matching_setting_passes(
    postgres_database: Database, postgres_url: str, mode: str, request: pytest.FixtureRequest
) -> None:
    bouncer: PgBouncer = request.getfixturevalue(f"pgbouncer_{mode}")

    checked = stockroom(
        "db", "check", url=bouncer.url(database_name(postgres_url)), database_pooler=mode
    )

    assert checked.returncode == 0, checked.stdout + checked.stderr
    table = rows(checked.stdout)
    expected = "detected (transaction pooling)" if mode == "transaction" else "detected"
    assert table["pooler"] == expected
    assert table["server port"] == f"{make_url(postgres_url).port} (the URL's: {bouncer.port})"
    assert table["schema"] == f"{HEAD} (at head)"
    assert "max_client_conn" in checked.stdout  # the budget is the pooler's to hold now
    # The suite's PgBouncers name nobody in stats_users: their console refuses us.
    assert table["pooler limits"].startswith("not read: its admin console answered:")
    assert "stats_users to have them checked" in checked.stdout


@pytest.mark.postgres
async def test_a_poolers_limits_are_read_and_the_budget_held_to_them(
    postgres_database: Database, postgres_url: str
) -> None:
    bouncer = PgBouncer(
        "transaction", postgres_url, extra={"stats_users": "postgres", "max_client_conn": "30"}
    )
    bouncer.start()
    try:
        url = bouncer.url(database_name(postgres_url))
        fits = stockroom("db", "check", "--workers", "2", url=url, database_pooler="transaction")
        over = stockroom("db", "check", "--workers", "3", url=url, database_pooler="transaction")
    finally:
        bouncer.remove()

    assert fits.returncode == 0, fits.stdout + fits.stderr
    assert rows(fits.stdout)["pooler limits"] == "max_client_conn 30, default_pool_size 20"
    assert over.returncode == 1
    assert problems(over.stdout) == [
        "problem: the connection budget (33) exceeds PgBouncer's max_client_conn (30), which "
        "refuses the logins beyond it: raise it, or lower STOCKROOM_POOL_SIZE or the workers"
    ]


@pytest.mark.postgres
def test_each_replica_is_counted_and_an_unreachable_one_is_a_note(
    replicated_database: ReplicatedDatabase,
) -> None:
    nowhere = f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/nothing"
    replicas = f"{replicated_database.replica_url},{nowhere}"

    checked = stockroom(
        "db", "check", "--workers", "2", url=replicated_database.primary_url, replica_urls=replicas
    )

    assert checked.returncode == 0, checked.stdout + checked.stderr
    table = rows(checked.stdout)
    assert table["replica 1"].startswith("PostgreSQL ")
    assert table["replica 2"].startswith("unreachable: ")
    assert table["replica budget"] == "20 on each, same workers x (pool 10 + overflow 0)"
    assert any(
        line.startswith("note: replica 2 unreachable (") for line in checked.stdout.splitlines()
    )


# --- problems --------------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.parametrize("mode", ["transaction", "session"])
def test_a_pooler_with_the_setting_none_fails(
    postgres_database: Database, postgres_url: str, mode: str, request: pytest.FixtureRequest
) -> None:
    bouncer: PgBouncer = request.getfixturevalue(f"pgbouncer_{mode}")
    url = bouncer.url(database_name(postgres_url))

    checked = stockroom("db", "check", url=url, database_pooler="none")

    assert checked.returncode == 1
    [problem] = problems(checked.stdout)
    assert "STOCKROOM_DATABASE_POOLER=none" in problem
    assert "transaction" in problem


@pytest.mark.postgres
def test_a_transaction_pooler_with_the_setting_session_fails(
    postgres_database: Database, postgres_url: str, pgbouncer_transaction: PgBouncer
) -> None:
    url = pgbouncer_transaction.url(database_name(postgres_url))

    checked = stockroom("db", "check", url=url, database_pooler="session")

    assert checked.returncode == 1
    [problem] = problems(checked.stdout)
    assert "set STOCKROOM_DATABASE_POOLER=transaction" in problem


@pytest.mark.postgres
def test_serve_refuses_a_pooler_its_setting_does_not_fit(
    postgres_database: Database, postgres_url: str, pgbouncer_transaction: PgBouncer
) -> None:
    """Before the first request could get somebody else's answer: `serve` checks too."""
    url = pgbouncer_transaction.url(database_name(postgres_url))

    refused = stockroom(
        "serve", "--port", "1", url=url, secret_key="k" * 40, database_pooler="none"
    )

    assert refused.returncode == 1, refused.stdout + refused.stderr
    [line] = refused.stderr.strip().splitlines()
    assert line.startswith("error: a pooler in transaction mode is in front"), line
    assert "STOCKROOM_DATABASE_POOLER=transaction" in line


@pytest.mark.postgres
async def test_a_budget_beyond_the_servers_connections_fails_and_one_that_fits_passes(
    postgres_database: Database, postgres_url: str, available_connections: int
) -> None:
    # Each worker's pool, and its health check's connection of its own.
    pool_size = str(available_connections - 1)
    fits = stockroom("db", "check", url=postgres_url, pool_size=pool_size)
    beyond = stockroom("db", "check", "--hosts", "2", url=postgres_url, pool_size=pool_size)

    assert fits.returncode == 0, fits.stdout
    assert beyond.returncode == 1
    [problem] = problems(beyond.stdout)
    assert f"({2 * available_connections}) exceeds the {available_connections}" in problem


@pytest.fixture
async def fresh_postgres_url() -> AsyncIterator[str]:
    """An empty database of the test's own on the shared server, dropped afterwards."""
    name = f"stockroom_test_check_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(asyncpg_dsn(POSTGRES_URL), timeout=5)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.mark.postgres
def test_a_schema_behind_the_code_fails_until_upgraded(fresh_postgres_url: str) -> None:
    empty = stockroom("db", "check", url=fresh_postgres_url)
    assert (
        stockroom("db", "upgrade", "0002_users", url=fresh_postgres_url).returncode == 0
    )  # not the head
    behind = stockroom("db", "check", url=fresh_postgres_url)
    assert stockroom("db", "upgrade", url=fresh_postgres_url).returncode == 0
    upgraded = stockroom("db", "check", url=fresh_postgres_url)

    assert empty.returncode == 1
    assert problems(empty.stdout) == [
        f"problem: schema at nothing, code expects {HEAD}: run `stockroom db upgrade`"
    ]
    assert behind.returncode == 1
    assert rows(behind.stdout)["schema"] == f"0002_users (code expects {HEAD})"
    assert upgraded.returncode == 0, upgraded.stdout


# --- SQLite ----------------------------------------------------------------------------------


@pytest.mark.parametrize("migrated", [True, False])
def test_on_sqlite_only_the_schema_is_checked(tmp_path: Path, migrated: bool) -> None:
    path = tmp_path / "check.db"
    url = f"sqlite+aiosqlite:///{path}"
    if migrated:
        assert stockroom("db", "upgrade", url=url).returncode == 0

    checked = stockroom("db", "check", "--workers", "1000", url=url)

    table = rows(checked.stdout)
    assert table["server"].startswith("SQLite, embedded")
    assert "connection budget" not in table
    assert checked.returncode == (0 if migrated else 1), checked.stdout
    assert table["schema"] == (
        f"{HEAD} (at head)" if migrated else f"nothing (code expects {HEAD})"
    )
    assert path.exists() == migrated  # checking never creates the file


@pytest.mark.postgres
def test_migrations_run_through_a_transaction_pooler(
    fresh_postgres_url: str, pgbouncer_transaction: PgBouncer
) -> None:
    """`db upgrade` honours STOCKROOM_DATABASE_POOLER, so an operator need not go around the
    pooler to migrate."""
    url = pgbouncer_transaction.url(database_name(fresh_postgres_url))

    upgraded = stockroom("db", "upgrade", url=url, database_pooler="transaction")
    checked = stockroom("db", "check", url=url, database_pooler="transaction")

    assert upgraded.returncode == 0, upgraded.stdout + upgraded.stderr
    assert checked.returncode == 0, checked.stdout
    assert rows(checked.stdout)["schema"] == f"{HEAD} (at head)"


@pytest.mark.postgres
def test_an_unset_setting_behind_a_pooler_is_a_note_not_a_problem(
    postgres_database: Database, postgres_url: str, pgbouncer_transaction: PgBouncer
) -> None:
    checked = stockroom("db", "check", url=pgbouncer_transaction.url(database_name(postgres_url)))

    assert checked.returncode == 0, checked.stdout
    assert problems(checked.stdout) == []
    assert "note: a pooler is in front and STOCKROOM_DATABASE_POOLER is not set" in checked.stdout
    assert rows(checked.stdout)["STOCKROOM_DATABASE_POOLER"] == "transaction"
