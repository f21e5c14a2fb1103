"""``stockroom db check``'s verdicts on facts fed to it, and the one line every command prints
when the database cannot be reached. No database: the facts and the failures are made up."""

from __future__ import annotations

import dataclasses

import pytest
import typer
from sqlalchemy.exc import OperationalError

from adapters.pooler_limits import PoolerLimits
from adapters.postgres import Pooler
from adapters.server_facts import ServerFacts
from entrypoints.cli.common import run_on, unreachable
from entrypoints.cli.verdicts import Budget, Finding, ReplicaFacts, effective_pooler, findings
from entrypoints.settings import Settings
from migrations.window import SchemaVersion, fit
from service_layer.errors import DatabaseUnavailable

HEAD = "0003_orders"
KNOWN = ("0001_items", "0002_users", HEAD)
AT_HEAD = SchemaVersion(HEAD)
DIRECT = ServerFacts(
    version="15.20",
    max_connections=100,
    reserved_connections=3,
    port=5432,
    pooler_in_front=False,
    transaction_pooling_seen=False,
)
SESSION_POOLER = dataclasses.replace(DIRECT, pooler_in_front=True)
TRANSACTION_POOLER = dataclasses.replace(SESSION_POOLER, transaction_pooling_seen=True)


def budget(total_per_worker: int = 10, workers: int = 1, hosts: int = 1) -> Budget:
    return Budget(hosts=hosts, workers=workers, pool_size=total_per_worker, max_overflow=0)


def judge(
    facts: ServerFacts | None = DIRECT,
    pooler: Pooler = Pooler.NONE,
    spent: Budget | None = None,
    schema: SchemaVersion = AT_HEAD,
    limits: PoolerLimits | str | None = None,
    replicas: tuple[ReplicaFacts, ...] = (),
) -> list[Finding]:
    return findings(
        schema=schema,
        head=HEAD,
        fits=fit(schema, HEAD, KNOWN),
        facts=facts,
        pooler=pooler,
        budget=spent or budget(),
        pooler_limits=limits,
        replicas=replicas,
    )


def problems(found: list[Finding]) -> list[str]:
    return [finding.text for finding in found if finding.problem]


def notes(found: list[Finding]) -> list[str]:
    return [finding.text for finding in found if not finding.problem]


# --- schema ----------------------------------------------------------------------------------


def test_a_schema_at_head_on_a_direct_connection_within_budget_is_fine() -> None:
    assert judge() == []


@pytest.mark.parametrize("schema", [None, "0002_users"])
def test_a_schema_behind_the_head_is_a_problem(schema: str | None) -> None:
    [problem] = problems(judge(schema=SchemaVersion(schema)))

    assert (
        problem
        == f"schema at {schema or 'nothing'}, code expects {HEAD}: run `stockroom db upgrade`"
    )


def test_a_newer_schema_is_a_note_inside_the_window_and_a_problem_outside() -> None:
    expand = judge(schema=SchemaVersion("0004_expand", served_from=HEAD))
    contract = judge(schema=SchemaVersion("0004_contract", served_from="0004_contract"))

    assert problems(expand) == []
    assert notes(expand) == [
        f"database schema is at 0004_expand, newer than this code (at {HEAD}) but inside its "
        f"compatible window (served from {HEAD})"
    ]
    assert problems(contract) == [
        f"database schema is at 0004_contract, newer than this code (at {HEAD}) can serve: it "
        "needs code at 0004_contract or later; deploy the release that migrated it"
    ]


def test_on_sqlite_only_the_schema_is_judged() -> None:
    huge = budget(workers=1000)

    assert judge(facts=None, spent=huge) == []
    assert problems(judge(facts=None, spent=huge, schema=SchemaVersion(None))) != []


# --- connection budget -----------------------------------------------------------------------


def test_the_budget_counts_every_pool_of_every_worker_on_every_host() -> None:
    spent = Budget(hosts=3, workers=4, pool_size=10, max_overflow=5)

    # Each worker's readiness check has a connection of its own to the primary.
    assert spent.total == 192
    assert str(spent) == "192 = 3 host(s) x 4 worker(s) x (pool 10 + overflow 5 + 1 health check)"
    assert spent.each_replica == 180


def test_a_direct_budget_up_to_what_ordinary_roles_may_open_is_fine() -> None:
    assert judge(spent=budget(96)) == []  # 96 + 1 health check


@pytest.mark.parametrize(
    "spent",
    [budget(97), budget(10, workers=10), budget(48, hosts=2), Budget(1, 1, 90, 7)],
    ids=["pool", "workers", "hosts", "overflow"],
)
def test_a_direct_budget_beyond_it_is_a_problem(spent: Budget) -> None:
    [problem] = problems(judge(spent=spent))

    assert f"({spent.total}) exceeds the 97 connections" in problem


def test_reserved_connections_are_not_counted_as_available() -> None:
    fewer = dataclasses.replace(DIRECT, reserved_connections=10)

    assert judge(facts=fewer, spent=budget(89)) == []
    assert problems(judge(facts=fewer, spent=budget(90))) != []


@pytest.mark.parametrize(
    ("facts", "pooler"),
    [(TRANSACTION_POOLER, Pooler.TRANSACTION), (SESSION_POOLER, Pooler.SESSION)],
)
def test_behind_a_pooler_the_budget_is_the_poolers_to_hold(
    facts: ServerFacts, pooler: Pooler
) -> None:
    found = judge(facts=facts, pooler=pooler, spent=budget(10, workers=100))

    assert problems(found) == []
    assert any(
        "1100 client connections" in note and "max_client_conn" in note for note in notes(found)
    )
    assert any("default_pool_size" in note and "within 97" in note for note in notes(found))


def test_behind_a_pooler_whose_limits_were_read_the_budget_meets_them() -> None:
    judged = dict(facts=TRANSACTION_POOLER, pooler=Pooler.TRANSACTION, spent=budget(10, workers=9))
    fits = PoolerLimits(max_client_conn=99, default_pool_size=97)

    assert judge(**judged, limits=fits) == []  # 9 x 11 = 99 clients; 97 server connections
    [clients] = problems(judge(**judged, limits=PoolerLimits(98, 97)))
    [servers] = problems(judge(**judged, limits=PoolerLimits(99, 98)))
    assert "(99) exceeds PgBouncer's max_client_conn (98)" in clients
    assert "default_pool_size (98) exceeds the 97 connections" in servers


def test_limits_the_pooler_keeps_to_itself_are_a_note_saying_how_to_have_them_checked() -> None:
    refused = "its admin console answered: FATAL:  not allowed"
    found = judge(facts=TRANSACTION_POOLER, pooler=Pooler.TRANSACTION, limits=refused)

    assert problems(found) == []
    assert any(refused in note and "stats_users" in note for note in notes(found))


# --- replicas --------------------------------------------------------------------------------


def test_each_replica_reached_directly_must_hold_a_pool_per_worker() -> None:
    spent = budget(10, workers=8)  # 88 to the primary (97 available), 80 to each replica

    def replica(max_connections: int, pooler_in_front: bool = False) -> ReplicaFacts:
        facts = dataclasses.replace(
            DIRECT, max_connections=max_connections, pooler_in_front=pooler_in_front
        )
        return ReplicaFacts("replica 1", facts)

    assert judge(spent=spent, replicas=(replica(83),)) == []  # 80 available
    [over] = problems(judge(spent=spent, replicas=(replica(82),)))
    assert over.startswith("replica 1: the connection budget (80) exceeds the 79 connections")
    assert judge(spent=spent, replicas=(replica(10, pooler_in_front=True),)) == []


def test_an_unreachable_replica_is_a_note_the_primary_serves_its_reads() -> None:
    found = judge(replicas=(ReplicaFacts("replica 1", "no answer in 10 s"),))

    assert problems(found) == []
    assert notes(found) == [
        "replica 1 unreachable (no answer in 10 s): the primary serves its reads"
    ]


# --- pooler setting --------------------------------------------------------------------------


@pytest.mark.parametrize("pooler", [Pooler.NONE, Pooler.SESSION])
def test_transaction_pooling_needs_the_transaction_setting(pooler: Pooler) -> None:
    [problem] = problems(judge(facts=TRANSACTION_POOLER, pooler=pooler))

    assert f"STOCKROOM_DATABASE_POOLER={pooler}" in problem
    assert "set STOCKROOM_DATABASE_POOLER=transaction" in problem


def test_a_pooler_in_front_with_the_setting_none_is_a_problem() -> None:
    [problem] = problems(judge(facts=SESSION_POOLER, pooler=Pooler.NONE))

    assert "STOCKROOM_DATABASE_POOLER=none" in problem
    assert "transaction" in problem
    assert "session" in problem  # the mode was not seen: both settings are named


def test_a_session_setting_behind_a_pooler_notes_what_it_could_not_see() -> None:
    found = judge(facts=SESSION_POOLER, pooler=Pooler.SESSION)

    assert problems(found) == []
    assert any("pool_mode is transaction" in note for note in notes(found))


def test_the_transaction_setting_on_a_direct_connection_is_only_a_note() -> None:
    found = judge(facts=DIRECT, pooler=Pooler.TRANSACTION)

    assert problems(found) == []
    assert [note for note in notes(found) if "no pooler in front" in note] != []


def test_the_session_setting_on_a_direct_connection_is_fine() -> None:
    # The same driver and prepared statements as none: nothing to say.
    assert judge(facts=DIRECT, pooler=Pooler.SESSION) == []


# --- the one line ----------------------------------------------------------------------------

URL = "postgresql+asyncpg://shop:pa55-word-secret@db.example:6432/shop"


def refused(message: str) -> DatabaseUnavailable:
    """What ``Database.ping`` raises for a driver error: the service layer's, from the driver's."""
    driver_error = OperationalError("SELECT 1", {}, Exception(message))
    try:
        raise DatabaseUnavailable("the database said no") from driver_error
    except DatabaseUnavailable as error:
        return error


def test_the_line_names_the_url_without_its_password_and_the_drivers_reason() -> None:
    line = unreachable(URL, refused('FATAL:  password authentication failed for user "shop"'))

    assert line == (
        "cannot reach the database at postgresql+asyncpg://shop:***@db.example:6432/shop: "
        'FATAL: password authentication failed for user "shop"'
    )


def test_a_password_in_the_drivers_words_is_hidden_too() -> None:
    line = unreachable(URL, refused("bad connection string: password=pa55-word-secret"))

    assert "pa55-word-secret" not in line
    assert line.endswith("password=***")


def test_a_reason_over_several_lines_becomes_one() -> None:
    line = unreachable(URL, refused("connection refused\n\tIs the server running?\n"))

    assert line.endswith(": connection refused Is the server running?")


def test_a_timeout_gives_the_service_layers_words() -> None:
    try:
        raise DatabaseUnavailable("no answer from the database in 10.0 s") from TimeoutError()
    except DatabaseUnavailable as error:
        line = unreachable(URL, error)

    assert line.endswith("6432/shop: no answer from the database in 10.0 s")


class UnreachableDatabase:
    """Refuses every round trip; counts its disposals."""

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.disposals = 0

    async def ping(self, within: float) -> None:
        raise self.error

    async def dispose(self) -> None:
        self.disposals += 1


@pytest.mark.parametrize(
    "error",
    [
        refused("connection to server failed: " + "x" * 300),
        # What ``ping`` lets through unclassified: the server refused the login.
        OperationalError("SELECT 1", {}, Exception('role "shop" does not exist')),
    ],
    ids=["unavailable", "refused-login"],
)
def test_a_command_on_an_unreachable_database_prints_one_line_and_exits_1(
    error: Exception, capsys: pytest.CaptureFixture[str]
) -> None:
    database = UnreachableDatabase(error)
    ran = []

    async def use_case() -> None:
        ran.append(True)

    with pytest.raises(typer.Exit) as exited:
        run_on(database, URL, use_case)  # type: ignore[arg-type]

    assert exited.value.exit_code == 1
    assert (ran, database.disposals) == ([], 1)
    captured = capsys.readouterr()
    assert captured.out == ""
    [line] = captured.err.splitlines()  # one line, however long, whatever the terminal width
    assert line.startswith("error: cannot reach the database at postgresql+asyncpg://shop:***@")
    assert "pa55-word-secret" not in captured.err


def test_sqlite_is_not_pinged_first() -> None:
    database = UnreachableDatabase(DatabaseUnavailable("unused"))

    async def use_case() -> str:
        return "ran"

    assert run_on(database, "sqlite+aiosqlite:///:memory:", use_case) == "ran"  # type: ignore[arg-type]
    assert database.disposals == 1


# --- the pooler mode to run with ---------------------------------------------------------------


def settings(**given: object) -> Settings:
    return Settings(_env_file=None, database_url="postgresql+asyncpg://db/x", **given)  # type: ignore[call-arg]


@pytest.mark.parametrize("in_front", [SESSION_POOLER, TRANSACTION_POOLER])
def test_an_unset_setting_behind_a_pooler_runs_as_for_transaction_pooling(
    in_front: ServerFacts,
) -> None:
    assert effective_pooler(settings(), in_front) == (Pooler.TRANSACTION, True)


@pytest.mark.parametrize("given", list(Pooler))
def test_a_setting_given_is_obeyed_whatever_is_in_front(given: Pooler) -> None:
    assert effective_pooler(settings(database_pooler=given), TRANSACTION_POOLER) == (given, False)


def test_an_unset_setting_without_a_pooler_stays_direct() -> None:
    assert effective_pooler(settings(), DIRECT) == (Pooler.NONE, False)
    assert effective_pooler(settings(), None) == (Pooler.NONE, False)  # SQLite
