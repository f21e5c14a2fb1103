"""Migrations while the service serves (issue 23): expand, deploy, contract.

A release is simulated faithfully: the project's files (``git ls-files``, as they are in the
working tree) copied into a folder, run by the same virtual environment with ``PYTHONPATH``
pointing at the copy. The previous release is that copy without the newest migration; the
next release is that copy with a migration of the test's own. The running release is
whichever one does not know the other's newest migration.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import asyncpg
import httpx
import pytest
from alembic.script import Script, ScriptDirectory
from sqlalchemy import event

from adapters.database import Database
from adapters.tokens import JwtTokenCodec
from domain.order import LineRequest
from domain.user import User
from entrypoints import migrations
from migrations.window import declared
from service_layer.actor import Actor
from service_layer.services.orders import place_order
from tests.factories import ItemFactory
from tests.integration.conftest import empty_postgres_database
from tests.integration.failure_support import asyncpg_dsn
from tests.integration.servers import stockroom_serve
from tests.integration.units import unit_of_work
from tests.polling import eventually

ROOT = Path(__file__).resolve().parents[2]
STOCKROOM = str(Path(sys.executable).with_name("stockroom"))
SECRET_KEY = "online-migrations-signing-key-" + "0123456789abcdef" * 2
SCRIPTS = ScriptDirectory.from_config(migrations.alembic_config("sqlite://"))
NEWEST: Script = SCRIPTS.get_revision("head")  # type: ignore[assignment]
HEAD = NEWEST.revision
PREVIOUS = str(NEWEST.down_revision)

TEST_MIGRATION = '''"""Test only: {what}.

Revision ID: {revision}
Revises: {down}
"""

import sqlalchemy as sa
from alembic import op

revision = "{revision}"
down_revision = "{down}"
branch_labels = None
depends_on = None
served_from = "{served_from}"


def upgrade() -> None:
    {upgrade}


def downgrade() -> None:
    {downgrade}
'''
CONTRACT = "9001_test_contract"
ITEMS_NOTE = "9001_test_items_note"


@dataclass(frozen=True)
class Release:
    """A copy of the project that runs as its own release, from the same environment."""

    folder: Path

    def env(self, **settings: str) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith("STOCKROOM_")}
        env |= {f"STOCKROOM_{name.upper()}": value for name, value in settings.items()}
        return env | {"PYTHONPATH": str(self.folder), "COLUMNS": "250", "NO_COLOR": "1"}

    def stockroom(self, *args: str, url: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603 - our own console script
            [STOCKROOM, *args],
            env=self.env(database_url=url, secret_key=SECRET_KEY),
            cwd=self.folder,
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )

    def serve_settings(self, url: str) -> dict[str, str]:
        return {
            "STOCKROOM_DATABASE_URL": url,
            "STOCKROOM_SECRET_KEY": SECRET_KEY,
            "STOCKROOM_DRAIN_SECONDS": "0",  # no balancer to tell: stop at once
            "PYTHONPATH": str(self.folder),
        }

    def head(self) -> str:
        """The head this release's own code reports (and proof that it runs from the copy)."""
        probe = (
            "import entrypoints.migrations as m; "
            "print(m.__file__); print(m.head_revision('sqlite://'))"
        )
        done = subprocess.run(  # noqa: S603 - our own interpreter
            [sys.executable, "-c", probe],
            env=self.env(),
            cwd=self.folder,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        imported_from, head = done.stdout.split()
        assert Path(imported_from).is_relative_to(self.folder), imported_from
        return head


def copy_project(folder: Path, *, without: str | None = None, add: str | None = None) -> Release:
    """The project's files into ``folder``, minus the migration file ``without``, plus the
    migration ``add`` (its text) in ``migrations/versions``."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],  # noqa: S607
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file() and name != without:
            target = folder / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
    if add is not None:
        (folder / "migrations" / "versions" / "9001_test.py").write_text(add)
    return Release(folder)


def migration_text(what: str, revision: str, served_from: str, upgrade: str, downgrade: str) -> str:
    return TEST_MIGRATION.format(
        what=what,
        revision=revision,
        down=HEAD,
        served_from=served_from,
        upgrade=upgrade,
        downgrade=downgrade,
    )


@pytest.fixture(scope="module")
def previous_release(tmp_path_factory: pytest.TempPathFactory) -> Release:
    """The release before this one: everything but the newest migration."""
    newest = Path(NEWEST.path).resolve().relative_to(ROOT).as_posix()
    release = copy_project(tmp_path_factory.mktemp("previous"), without=newest)
    assert release.head() == PREVIOUS
    return release


@pytest.fixture(scope="module")
def contracting_release(tmp_path_factory: pytest.TempPathFactory) -> Release:
    """A next release whose migration contracts: no code before it may serve its schema."""
    migration = migration_text("a contract migration", CONTRACT, CONTRACT, "pass", "pass")
    release = copy_project(tmp_path_factory.mktemp("contracting"), add=migration)
    assert release.head() == CONTRACT
    return release


@pytest.fixture(scope="module")
def expanding_release(tmp_path_factory: pytest.TempPathFactory) -> Release:
    """A next release whose expand migration must lock ``items`` (ACCESS EXCLUSIVE, briefly)."""
    migration = migration_text(
        "a nullable column nobody reads yet, on a table every purchase locks rows of",
        ITEMS_NOTE,
        HEAD,
        'op.add_column("items", sa.Column("note", sa.Text(), nullable=True))',
        'op.drop_column("items", "note")',
    )
    release = copy_project(tmp_path_factory.mktemp("expanding"), add=migration)
    assert release.head() == ITEMS_NOTE
    return release


def url_of(database: Database) -> str:
    return database.url.render_as_string(hide_password=False)


async def a_customer_and_an_item(database: Database, quantity: int = 5) -> tuple[User, str]:
    item = ItemFactory(quantity=quantity, price=Decimal("2.50"))
    customer = User(f"buyer-{item.sku.lower()}@example.com", "not-a-hash")
    async with unit_of_work(database) as uow:
        await uow.items.add(item)
        await uow.users.add(customer)
        await uow.commit()
    return customer, item.sku


def serve_log(folder: Path) -> str:
    return next(folder.glob("serve-*.log")).read_text()


def error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The one line a refusal prints on stderr."""
    assert result.returncode == 1, result.stdout + result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: "), line
    return line.removeprefix("error: ")


# --- expand, deploy, contract ----------------------------------------------------------------


async def test_the_previous_release_serves_the_newer_schema(
    fresh_database: Database, previous_release: Release, tmp_path: Path
) -> None:
    """Upgraded by this release, the database is served by the previous one: it reads, it
    sells, its scripts run, and its own `db upgrade` (a rollback) leaves the schema alone."""
    url = url_of(fresh_database)
    assert await migrations.current_revision(fresh_database.engine) == HEAD
    if declared(NEWEST) != PREVIOUS:  # the newest migration contracts: see the test below
        refused = previous_release.stockroom("serve", "--port", "1", url=url)
        assert "newer than this code" in error_line(refused)
        return
    customer, sku = await a_customer_and_an_item(fresh_database)
    assert customer.id is not None
    token = JwtTokenCodec(SECRET_KEY, timedelta(minutes=5)).issue(
        customer.id, customer.role.value, credentials_version=customer.credentials_version
    )

    settings = previous_release.serve_settings(url)
    with stockroom_serve(settings, tmp_path, workers=1) as base:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            listed = await client.get("/items/")
            ordered = await client.post(
                "/orders/",
                json={"lines": [{"sku": sku, "quantity": 2}]},
                headers={"Authorization": f"Bearer {token}"},
            )
            item = await client.get(f"/items/{listed.json()[0]['id']}")

    assert listed.status_code == 200, listed.text
    assert ordered.status_code == 201, ordered.text
    assert item.json()["quantity"] == 3
    if fresh_database.dialect == "postgresql":  # SQLite is migrated by `serve`, quietly
        assert f"newer than this code (at {PREVIOUS}) but inside its compatible" in serve_log(
            tmp_path
        )

    rolled_back = previous_release.stockroom("db", "upgrade", url=url)
    assert rolled_back.returncode == 0, rolled_back.stdout + rolled_back.stderr
    assert "nothing to do" in rolled_back.stdout
    assert await migrations.current_revision(fresh_database.engine) == HEAD
    script = previous_release.stockroom("items", "list", url=url)
    assert script.returncode == 0, script.stderr
    assert sku in script.stdout


async def test_a_contract_migration_makes_the_running_release_refuse_in_one_line(
    fresh_database: Database, contracting_release: Release, previous_release: Release
) -> None:
    url = url_of(fresh_database)
    upgraded = contracting_release.stockroom("db", "upgrade", url=url)
    assert upgraded.returncode == 0, upgraded.stdout + upgraded.stderr
    assert await migrations.current_revision(fresh_database.engine) == CONTRACT
    current = Release(ROOT)  # this very code, which is the running release now

    serve = ("serve", "--port", "1")
    refusals = await asyncio.gather(
        *(
            asyncio.to_thread(release.stockroom, *command, url=url)
            for release, command in (
                (current, serve),
                (previous_release, serve),
                (current, ("items", "list")),
                (current, ("db", "upgrade")),
                (current, ("db", "check")),
            )
        )
    )
    served_now, served_before, script, upgrade, checked = refusals

    for refused, head in ((served_now, HEAD), (served_before, PREVIOUS)):
        assert error_line(refused) == (
            f"database schema is at {CONTRACT}, newer than this code (at {head}) can serve: "
            f"it needs code at {CONTRACT} or later; deploy the release that migrated it"
        )
    assert "newer than this code" in error_line(script)
    assert "newer than this code" in error_line(upgrade)
    if fresh_database.dialect == "postgresql":  # SQLite's `db check` refuses the same way
        assert checked.returncode == 1
        [problem] = [line for line in checked.stdout.splitlines() if line.startswith("problem")]
        assert f"it needs code at {CONTRACT} or later" in problem


# --- lock_timeout and retries ----------------------------------------------------------------


@pytest.fixture
async def admin(fresh_postgres: Database) -> AsyncIterator[asyncpg.Connection]:
    """A connection of the test's own to ``fresh_postgres``, for holding locks."""
    connection = await asyncpg.connect(asyncpg_dsn(url_of(fresh_postgres)), timeout=10)
    try:
        yield connection
    finally:
        await connection.close()


async def holding(connection: asyncpg.Connection, *statements: str) -> int:
    """Begin a transaction on ``connection``, run ``statements`` in it, leave it open: the
    backend's pid."""
    pid = int(await connection.fetchval("SELECT pg_backend_pid()"))
    await connection.execute("BEGIN")
    for statement in statements:
        await connection.execute(statement)
    return pid


@pytest.mark.postgres
async def test_a_migration_that_cannot_get_its_lock_gives_up_in_one_line_and_can_be_rerun(
    fresh_postgres: Database, expanding_release: Release, admin: asyncpg.Connection
) -> None:
    url = url_of(fresh_postgres)
    await holding(admin, "LOCK TABLE items IN ACCESS EXCLUSIVE MODE")

    given_up = await asyncio.to_thread(
        expanding_release.stockroom,
        *("db", "upgrade", "--lock-timeout", "0.2", "--lock-attempts", "3"),
        url=url,
    )
    await admin.execute("ROLLBACK")

    assert error_line(given_up) == (
        f"migration {ITEMS_NOTE} gave up after 3 tries, each waiting 0.2 s for a lock "
        "(lock_timeout): `ALTER TABLE items ADD COLUMN note TEXT`; a long transaction holds "
        "that table: end it, or run `stockroom db upgrade` again once it is over"
    )
    assert given_up.stdout.count("waited 0.2 s for a lock, trying again") == 2
    assert await migrations.current_revision(fresh_postgres.engine) == HEAD  # nothing half-done

    rerun = expanding_release.stockroom("db", "upgrade", url=url)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert await migrations.current_revision(fresh_postgres.engine) == ITEMS_NOTE


@pytest.mark.postgres
async def test_purchases_wait_at_most_about_the_lock_timeout_behind_a_waiting_migration(
    fresh_postgres: Database, expanding_release: Release, admin: asyncpg.Connection, tmp_path: Path
) -> None:
    """A long read transaction on ``items`` (a report) blocks nobody, until the migration asks
    for ACCESS EXCLUSIVE behind it: then every purchase queues behind the migration. Each try
    gives up after the lock timeout and lets them through; once the report ends, the
    migration goes through. Without a lock timeout, purchases stall for the whole report."""
    lock_timeout = 0.5
    customer, sku = await a_customer_and_an_item(fresh_postgres, quantity=1_000_000)
    assert customer.id is not None
    buyer = Actor(customer.id)
    await holding(admin, "SELECT count(*) FROM items")
    held_since = time.monotonic()
    latencies: list[float] = []
    stop = asyncio.Event()

    async def buy_until_stopped() -> None:
        while not stop.is_set():
            started = time.monotonic()
            await place_order(unit_of_work(fresh_postgres), buyer, [LineRequest(sku, 1)])
            latencies.append(time.monotonic() - started)

    output = tmp_path / "upgrade.out"
    command = ["db", "upgrade", "--lock-timeout", str(lock_timeout), "--lock-attempts", "20"]
    with output.open("w") as sink:
        upgrade = await asyncio.create_subprocess_exec(
            STOCKROOM,
            *command,
            env=expanding_release.env(database_url=url_of(fresh_postgres)),
            cwd=expanding_release.folder,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    buying = asyncio.create_task(buy_until_stopped())
    try:
        await eventually(lambda: output.read_text().count("trying again") >= 2, seconds=60)
        await admin.execute("COMMIT")
        held_for = time.monotonic() - held_since
        await asyncio.wait_for(upgrade.wait(), timeout=60)
    finally:
        stop.set()
        await buying
        if upgrade.returncode is None:
            upgrade.kill()
            await upgrade.wait()

    assert upgrade.returncode == 0, output.read_text()
    assert await migrations.current_revision(fresh_postgres.engine) == ITEMS_NOTE
    # They did queue behind the migration (so the bound below says something), and never
    # for much longer than one try's lock timeout, though the report held out far longer.
    print(f"purchases: {len(latencies)}, max {max(latencies):.3f} s, held {held_for:.2f} s")
    assert max(latencies) >= lock_timeout / 2, max(latencies)
    assert max(latencies) < lock_timeout + 0.75 < held_for, (max(latencies), held_for)


# --- CREATE INDEX CONCURRENTLY -----------------------------------------------------------------

INDEX = "ix_idempotency_keys_created_at"  # 0006's, on a table every keyed purchase writes to
# The lock an INSERT takes, in a transaction of its own that gives up after a second.
WRITE_LOCK = "LOCK TABLE idempotency_keys IN ROW EXCLUSIVE MODE"


@pytest.mark.postgres
async def test_an_index_is_built_concurrently_and_an_interrupted_build_is_redone(
    tmp_path: Path,
) -> None:
    """0006's index build waits for a writer's open transaction, as any build must; built
    CONCURRENTLY, other writers go on meanwhile (a plain build would queue them behind it).
    Cut short there, it leaves an INVALID index, which the next run replaces."""
    async with empty_postgres_database("stockroom_test_concurrently") as url:
        current = Release(ROOT)
        assert current.stockroom("db", "upgrade", "0005_login_throttle", url=url).returncode == 0
        writer = await asyncpg.connect(asyncpg_dsn(url), timeout=10)
        other = await asyncpg.connect(asyncpg_dsn(url), timeout=10)
        try:
            await holding(writer, WRITE_LOCK)
            output = tmp_path / "upgrade.out"
            with output.open("w") as sink:
                upgrade = await asyncio.create_subprocess_exec(
                    STOCKROOM,
                    *("db", "upgrade", "0006_idempotency_expiry"),
                    env=current.env(database_url=url, secret_key=SECRET_KEY),
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                )
            building = (
                "SELECT pid, query FROM pg_stat_activity "
                "WHERE wait_event_type = 'Lock' AND query LIKE $1"
            )

            async def waits() -> bool:
                return await other.fetchrow(building, f"CREATE INDEX %{INDEX}%") is not None

            await eventually(waits, seconds=30)
            waiting = await other.fetchrow(building, f"CREATE INDEX %{INDEX}%")

            async with other.transaction():
                await other.execute("SET LOCAL lock_timeout = '1s'")
                await other.execute(WRITE_LOCK)  # a plain build would make this wait

            await other.execute("SELECT pg_cancel_backend($1)", waiting["pid"])
            assert await asyncio.wait_for(upgrade.wait(), timeout=30) == 1
            valid = "SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass($1)"
            left = await other.fetchval(valid, INDEX)
            await writer.execute("ROLLBACK")

            again = current.stockroom("db", "upgrade", url=url)
            rebuilt = await other.fetchval(valid, INDEX)
            version = await other.fetchval("SELECT version_num FROM alembic_version")
        finally:
            await writer.close()
            await other.close()

    assert waiting["query"].startswith(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {INDEX}")
    assert "canceling statement due to user request" in output.read_text()
    assert left is False
    assert again.returncode == 0, again.stdout + again.stderr
    assert rebuilt is True
    assert version == HEAD


async def test_sqlite_builds_the_same_index_plainly(tmp_path: Path) -> None:
    """SQLite has no CONCURRENTLY, and no other writer to let through."""
    statements: list[str] = []
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'plain.db'}")
    event.listen(
        database.engine.sync_engine,
        "before_cursor_execute",
        lambda _connection, _cursor, statement, *_: statements.append(statement),
    )
    try:
        await migrations.upgrade_engine(database.engine, "0006_idempotency_expiry")
    finally:
        await database.dispose()

    assert f"CREATE INDEX {INDEX} ON idempotency_keys (created_at)" in statements
