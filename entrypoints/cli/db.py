"""``stockroom db``: the schema, through Alembic, and a check of the database before going live."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text
from sqlalchemy.engine import make_url

from adapters import server_facts
from adapters.database import Database
from adapters.pool import PoolSettings
from adapters.postgres import Pooler
from adapters.server_facts import ServerFacts
from adapters.sqlite import is_sqlite, plain_file
from entrypoints import migrations
from entrypoints.cli.common import console, container_of, database_url, errors, run_on
from entrypoints.cli.surroundings import surroundings, surroundings_rows
from entrypoints.cli.verdicts import (
    UNSET_BEHIND_A_POOLER,
    Budget,
    effective_pooler,
    findings,
    note,
)
from entrypoints.container import Container
from entrypoints.migrations import MigrationLockTimeout
from entrypoints.settings import Settings
from migrations.online import LockPolicy
from migrations.window import Fit, SchemaVersion

db_app = typer.Typer(help="Database schema migrations and checks.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade(
    ctx: typer.Context,
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
    lock_timeout: Annotated[
        float,
        typer.Option(
            min=0.001,
            metavar="SECONDS",
            help="PostgreSQL: how long a migration may wait for a lock (requests queue behind "
            "it meanwhile) before it is rolled back and tried again after a pause as long, "
            "doubled at each next try.",
        ),
    ] = LockPolicy.timeout,
    lock_attempts: Annotated[
        int, typer.Option(min=1, help="PostgreSQL: tries of each migration in all.")
    ] = LockPolicy.attempts,
) -> None:
    """Apply migrations up to REVISION (default: the latest), one at a time, each under a
    short lock timeout (PostgreSQL), so that the running release keeps serving."""
    container = container_of(ctx)
    url = database_url(container)
    run_on(container.database(), url, _nothing)  # an unreachable database: one line, exit 1
    try:
        schema = migrations.upgrade(
            url,
            revision,
            container.settings().database_pooler,
            LockPolicy(timeout=lock_timeout, attempts=lock_attempts),
            progress=lambda line: console.print(line, markup=False, soft_wrap=True),
        )
    except MigrationLockTimeout as error:
        errors.print(Text.assemble(("error: ", "red"), str(error)), soft_wrap=True)
        raise typer.Exit(code=1) from error
    console.print(f"database at {schema.revision}", markup=False)


async def _nothing() -> None:
    return None


@db_app.command("current")
def db_current(ctx: typer.Context) -> None:
    """Print the revision the database is at, and whether this code serves it."""
    container = container_of(ctx)
    url = database_url(container)
    schema = current_schema(container, url)
    console.print(
        f"database at {schema.revision or 'nothing'} ({_state(schema, url)})", markup=False
    )


def _state(schema: SchemaVersion, url: str) -> str:
    """How the schema fits this code, in a few words."""
    head = migrations.head_revision(url)
    return {
        Fit.AT_HEAD: "at head",
        Fit.BEHIND: f"code expects {head}",
        Fit.IN_WINDOW: f"newer than the code's {head}, inside its window: served",
        Fit.NEWER: f"newer than the code's {head}, outside its window: not served",
    }[migrations.fit(schema, url)]


@db_app.command("history")
def db_history(ctx: typer.Context) -> None:
    """List the revisions, newest first (no database needed)."""
    migrations.history(database_url(container_of(ctx)))


@db_app.command("downgrade")
def db_downgrade(
    ctx: typer.Context,
    revision: Annotated[
        str, typer.Argument(help="Target revision (`stockroom db history`); base: nothing.")
    ],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Revert migrations down to REVISION. Tables and columns they added lose their data."""
    container = container_of(ctx)
    url = database_url(container)
    run_on(container.database(), url, _nothing)  # an unreachable database: one line, exit 1
    if not yes:
        shown = make_url(url).render_as_string(hide_password=True)
        # abort: no (or no terminal to answer) is "Aborted!" and exit 1, with nothing done.
        typer.confirm(f"Downgrade the database at {shown} to {revision}?", abort=True)
    migrations.downgrade(url, revision, container.settings().database_pooler)
    console.print(f"database at {revision}", markup=False)


def current_schema(container: Container, url: str) -> SchemaVersion:
    """The revision the database is at (``None``: not migrated, or no SQLite file yet)."""
    if is_sqlite(url):
        database_file = plain_file(make_url(url))
        if database_file is not None and not database_file.exists():
            return SchemaVersion(None)  # not created yet: opening it would create an empty file
    database = container.database()
    return run_on(database, url, lambda: migrations.schema_version(database.engine))


@db_app.command("check")
def db_check(
    ctx: typer.Context,
    workers: Annotated[
        int, typer.Option(min=1, help="Worker processes per host (`serve --workers`).")
    ] = 1,
    hosts: Annotated[int, typer.Option(min=1, help="Hosts running `stockroom serve`.")] = 1,
) -> None:
    """Check the database before going live: server, pooler, connection budget, replicas and
    schema.

    Exits 1 when something is wrong: the database cannot be reached or is a standby, the
    schema does not fit the code, the budget exceeds what the server, PgBouncer
    (max_client_conn, default_pool_size: read when its console lets us) or a replica allows,
    or the pooler setting does not fit what is in front of the server. An unreachable replica
    is a note: the primary serves its reads.
    """
    settings: Settings = container_of(ctx).settings()
    url = settings.database_url
    budget = Budget(hosts, workers, settings.pool_size, settings.pool_max_overflow)
    facts, schema = look(container_of(ctx), url)
    head = migrations.head_revision(url)
    pooler, chosen = effective_pooler(settings, facts)
    limits, replicas = asyncio.run(surroundings(settings, facts)) if facts else (None, [])
    table = Table("", "", show_header=False, box=None)
    rows = _facts_rows(url, facts, pooler, budget, schema)
    rows += surroundings_rows(limits, replicas, budget)
    for name, value in rows:
        table.add_row(name, Text(value))
    console.print(table)
    fits = migrations.fit(schema, url)
    found = findings(
        schema=schema,
        head=head,
        fits=fits,
        facts=facts,
        pooler=pooler,
        budget=budget,
        pooler_limits=limits,
        replicas=replicas,
    )
    if chosen:
        found.insert(0, note(UNSET_BEHIND_A_POOLER))
    for finding in found:
        label = ("problem: ", "red") if finding.problem else ("note: ", "yellow")
        console.print(Text.assemble(label, finding.text), soft_wrap=True)  # one line each
    if any(finding.problem for finding in found):
        raise typer.Exit(code=1)
    console.print(Text("ok", style="green"))


def look(container: Container, url: str) -> tuple[ServerFacts | None, SchemaVersion]:
    """The server's facts (``None`` on SQLite) and the schema's revision."""
    if is_sqlite(url):
        return None, current_schema(container, url)
    # Not the configured database: a probe that prepares nothing on the server is safe
    # behind whatever sits in front of it, which is what it is here to find out.
    probe = Database(url, pooler=Pooler.TRANSACTION, pool=PoolSettings(size=2))

    async def look() -> tuple[ServerFacts | None, SchemaVersion]:
        return await server_facts.gather(probe), await migrations.schema_version(probe.engine)

    return run_on(probe, url, look)


def _facts_rows(
    url: str,
    facts: ServerFacts | None,
    pooler: Pooler,
    budget: Budget,
    schema: SchemaVersion,
) -> list[tuple[str, str]]:
    rows = [("database", make_url(url).render_as_string(hide_password=True))]
    if facts is None:
        rows.append(("server", "SQLite, embedded: no server, no pooler, no connection budget"))
    else:
        url_port = make_url(url).port or 5432
        detected = "detected" + (" (transaction pooling)" if facts.transaction_pooling_seen else "")
        rows += [
            ("server", f"PostgreSQL {facts.version}"),
            (
                "max_connections",
                f"{facts.max_connections} ({facts.reserved_connections} reserved: "
                f"{facts.available_connections} for ordinary roles)",
            ),
            ("server port", f"{facts.port} (the URL's: {url_port})"),
            ("pooler", detected if facts.pooler_in_front else "none detected"),
            ("STOCKROOM_DATABASE_POOLER", str(pooler)),
            ("connection budget", str(budget)),
        ]
    rows.append(("schema", f"{schema.revision or 'nothing'} ({_state(schema, url)})"))
    return rows
