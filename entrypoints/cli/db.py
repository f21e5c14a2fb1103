"""``stockroom db``: the schema, through Alembic, and a check of the database before going live."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text
from sqlalchemy.engine import make_url

from adapters import server_facts
from adapters.database import Database, PoolSettings
from adapters.postgres import Pooler
from adapters.server_facts import ServerFacts
from adapters.sqlite import is_sqlite, plain_file
from entrypoints import migrations
from entrypoints.cli.common import console, container_of, database_url, run_on
from entrypoints.container import Container
from entrypoints.settings import Settings

db_app = typer.Typer(help="Database schema migrations and checks.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade(
    ctx: typer.Context,
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Apply migrations up to REVISION (default: the latest)."""
    container = container_of(ctx)
    url = database_url(container)
    run_on(container.database(), url, _nothing)  # an unreachable database: one line, exit 1
    migrations.upgrade(url, revision, container.settings().database_pooler)
    console.print(
        f"database at {migrations.head_revision(url) if revision == 'head' else revision}"
    )


async def _nothing() -> None:
    return None


@dataclass(frozen=True)
class Budget:
    """The connections a deployment may open: every pool of every worker on every host."""

    hosts: int
    workers: int
    pool_size: int
    max_overflow: int

    @property
    def total(self) -> int:
        return self.hosts * self.workers * (self.pool_size + self.max_overflow)

    def __str__(self) -> str:
        return (
            f"{self.total} = {self.hosts} host(s) x {self.workers} worker(s) x "
            f"(pool {self.pool_size} + overflow {self.max_overflow})"
        )


@dataclass(frozen=True)
class Finding:
    problem: bool  # False: worth knowing, but nothing is wrong
    text: str


def findings(
    *,
    schema: str | None,
    head: str | None,
    facts: ServerFacts | None,
    pooler: Pooler,
    budget: Budget,
) -> list[Finding]:
    """The verdicts on what ``db check`` found (``facts`` is ``None`` on SQLite)."""
    found = []
    if schema != head:
        found.append(
            _problem(
                f"schema at {schema or 'nothing'}, code expects {head}: run `stockroom db upgrade`"
            )
        )
    if facts is not None:
        found += pooler_findings(facts, pooler) + _budget_findings(facts, budget)
    return found


def pooler_findings(facts: ServerFacts, pooler: Pooler) -> list[Finding]:
    if facts.transaction_pooling_seen and pooler is not Pooler.TRANSACTION:
        return [
            _problem(
                f"a pooler in transaction mode is in front but STOCKROOM_DATABASE_POOLER={pooler}: "
                "statements prepared on one server connection would run on another; "
                "set STOCKROOM_DATABASE_POOLER=transaction"
            )
        ]
    if facts.pooler_in_front and pooler is Pooler.NONE:
        return [
            _problem(
                "a pooler is in front but STOCKROOM_DATABASE_POOLER=none: set it to the "
                "pooler's mode, transaction (PgBouncer's pool_mode = transaction) or session"
            )
        ]
    if facts.pooler_in_front and pooler is Pooler.SESSION:
        return [
            _note(
                "transaction pooling was not seen; if the pooler's pool_mode is transaction, "
                "STOCKROOM_DATABASE_POOLER must be transaction"
            )
        ]
    if not facts.pooler_in_front and pooler is Pooler.TRANSACTION:
        return [
            _note(
                "no pooler in front: STOCKROOM_DATABASE_POOLER=none would let statements be "
                "prepared on the server (faster on a direct connection)"
            )
        ]
    return []


def _budget_findings(facts: ServerFacts, budget: Budget) -> list[Finding]:
    available = facts.available_connections
    if facts.pooler_in_front:
        return [
            _note(
                f"{budget.total} client connections to the pooler: keep them within PgBouncer's "
                "max_client_conn, and its server connections (default_pool_size per database "
                f"and user) within {available}"
            )
        ]
    if budget.total > available:
        return [
            _problem(
                f"the connection budget ({budget.total}) exceeds the {available} connections "
                "the server allows ordinary roles: lower STOCKROOM_POOL_SIZE or the workers, "
                "or put PgBouncer in front"
            )
        ]
    return []


def _problem(text: str) -> Finding:
    return Finding(problem=True, text=text)


def _note(text: str) -> Finding:
    return Finding(problem=False, text=text)


@db_app.command("check")
def db_check(
    ctx: typer.Context,
    workers: Annotated[
        int, typer.Option(min=1, help="Worker processes per host (`serve --workers`).")
    ] = 1,
    hosts: Annotated[int, typer.Option(min=1, help="Hosts running `stockroom serve`.")] = 1,
) -> None:
    """Check the database before going live: server, pooler, connection budget and schema.

    Exits 1 when something is wrong: the database cannot be reached, the schema is not at
    the head, the budget exceeds what the server allows, or the pooler setting does not fit
    what is in front of the server.
    """
    settings: Settings = container_of(ctx).settings()
    url = settings.database_url
    budget = Budget(hosts, workers, settings.pool_size, settings.pool_max_overflow)
    facts, schema = look(container_of(ctx), url)
    head = migrations.head_revision(url)
    table = Table("", "", show_header=False, box=None)
    for name, value in _facts_rows(url, facts, settings.database_pooler, budget, schema, head):
        table.add_row(name, Text(value))
    console.print(table)
    found = findings(
        schema=schema, head=head, facts=facts, pooler=settings.database_pooler, budget=budget
    )
    for finding in found:
        label = ("problem: ", "red") if finding.problem else ("note: ", "yellow")
        console.print(Text.assemble(label, finding.text), soft_wrap=True)  # one line each
    if any(finding.problem for finding in found):
        raise typer.Exit(code=1)
    console.print(Text("ok", style="green"))


def look(container: Container, url: str) -> tuple[ServerFacts | None, str | None]:
    """The server's facts (``None`` on SQLite) and the schema's revision."""
    if is_sqlite(url):
        database_file = plain_file(make_url(url))
        if database_file is not None and not database_file.exists():
            return None, None  # not created yet: opening it would create an empty file
        embedded = container.database()
        return None, run_on(embedded, url, lambda: migrations.current_revision(embedded.engine))
    # Not the configured database: a probe that prepares nothing on the server is safe
    # behind whatever sits in front of it, which is what it is here to find out.
    probe = Database(url, pooler=Pooler.TRANSACTION, pool=PoolSettings(size=2))

    async def look() -> tuple[ServerFacts | None, str | None]:
        return await server_facts.gather(probe), await migrations.current_revision(probe.engine)

    return run_on(probe, url, look)


def _facts_rows(
    url: str,
    facts: ServerFacts | None,
    pooler: Pooler,
    budget: Budget,
    schema: str | None,
    head: str | None,
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
    at_head = "at head" if schema == head else f"code expects {head}"
    rows.append(("schema", f"{schema or 'nothing'} ({at_head})"))
    return rows
