"""The verdicts of ``stockroom db check`` (and the pooler part of ``serve``'s own check): pure
functions of what the server said about itself and of the settings, so every verdict is
unit-tested on facts fed to it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from adapters.pooler_limits import PoolerLimits
from adapters.postgres import Pooler
from adapters.server_facts import ServerFacts
from entrypoints.settings import Settings
from migrations.window import Fit, SchemaVersion, in_window, outside_window

# Each worker's readiness check asks the primary on a connection of its own
# (``Database.standby``): waiting in the pool it judges, it could not tell its own wedge from
# the database's blip.
HEALTH_CHECK_CONNECTIONS = 1


@dataclass(frozen=True)
class Budget:
    """The connections a deployment may open: every pool of every worker on every host."""

    hosts: int
    workers: int
    pool_size: int
    max_overflow: int

    @property
    def total(self) -> int:
        """To the primary (or the pooler in front of it): the pools and the health checks."""
        per_worker = self.pool_size + self.max_overflow + HEALTH_CHECK_CONNECTIONS
        return self.hosts * self.workers * per_worker

    @property
    def each_replica(self) -> int:
        """To each replica: a pool like the primary's per worker (its checks use that pool)."""
        return self.hosts * self.workers * (self.pool_size + self.max_overflow)

    def __str__(self) -> str:
        return (
            f"{self.total} = {self.hosts} host(s) x {self.workers} worker(s) x "
            f"(pool {self.pool_size} + overflow {self.max_overflow} + 1 health check)"
        )


@dataclass(frozen=True)
class ReplicaFacts:
    """What ``db check`` found of a replica (by its place in STOCKROOM_REPLICA_URLS): the
    server's facts, or why it could not get them."""

    name: str
    facts: ServerFacts | str


@dataclass(frozen=True)
class Finding:
    problem: bool  # False: worth knowing, but nothing is wrong
    text: str


def findings(
    *,
    schema: SchemaVersion,
    head: str | None,
    fits: Fit,
    facts: ServerFacts | None,
    pooler: Pooler,
    budget: Budget,
    pooler_limits: PoolerLimits | str | None = None,
    replicas: Sequence[ReplicaFacts] = (),
) -> list[Finding]:
    """The verdicts on what ``db check`` found (``facts`` is ``None`` on SQLite; ``fits``: how
    the schema fits the code, ``migrations/window.py``; ``pooler_limits``: PgBouncer's, or why
    they could not be read, with a pooler in front)."""
    found = []
    if facts is not None and facts.in_recovery:
        found.append(problem(STANDBY))
    if fits is Fit.BEHIND:
        behind = f"schema at {schema.revision or 'nothing'}, code expects {head}"
        found.append(problem(f"{behind}: run `stockroom db upgrade`"))
    elif fits is Fit.IN_WINDOW:
        found.append(note(in_window(schema, head)))
    elif fits is Fit.NEWER:
        found.append(problem(outside_window(schema, head)))
    if facts is not None:
        found += pooler_findings(facts, pooler) + _budget_findings(facts, budget, pooler_limits)
    for replica in replicas:
        found += _replica_findings(replica, budget)
    return found


def effective_pooler(settings: Settings, facts: ServerFacts | None) -> tuple[Pooler, bool]:
    """The pooler mode to run with, and whether it was chosen because the setting is unset.

    With a pooler in front and STOCKROOM_DATABASE_POOLER unset, statements are made safe for
    transaction pooling, which is also safe (only a little slower) for session pooling:
    better than letting a statement prepared on one server connection run on another. A
    setting given explicitly is always obeyed, and judged by ``pooler_findings``.
    """
    if "database_pooler" in settings.model_fields_set or facts is None:
        return settings.database_pooler, False
    if not facts.pooler_in_front:
        return settings.database_pooler, False
    return Pooler.TRANSACTION, True


STANDBY = (
    "the database is a standby (in recovery): it refuses every write; point "
    "STOCKROOM_DATABASE_URL at the primary (after a failover: the promoted replica)"
)
UNSET_BEHIND_A_POOLER = (
    "a pooler is in front and STOCKROOM_DATABASE_POOLER is not set: running as for "
    "transaction pooling (nothing prepared on the server); set it to the pooler's mode"
)


def pooler_findings(facts: ServerFacts, pooler: Pooler) -> list[Finding]:
    if facts.transaction_pooling_seen and pooler is not Pooler.TRANSACTION:
        return [
            problem(
                f"a pooler in transaction mode is in front but STOCKROOM_DATABASE_POOLER={pooler}: "
                "statements prepared on one server connection would run on another; "
                "set STOCKROOM_DATABASE_POOLER=transaction"
            )
        ]
    if facts.pooler_in_front and pooler is Pooler.NONE:
        return [
            problem(
                "a pooler is in front but STOCKROOM_DATABASE_POOLER=none: set it to the "
                "pooler's mode, transaction (PgBouncer's pool_mode = transaction) or session"
            )
        ]
    if facts.pooler_in_front and pooler is Pooler.SESSION:
        return [
            note(
                "transaction pooling was not seen; if the pooler's pool_mode is transaction, "
                "STOCKROOM_DATABASE_POOLER must be transaction"
            )
        ]
    if not facts.pooler_in_front and pooler is Pooler.TRANSACTION:
        return [
            note(
                "no pooler in front: STOCKROOM_DATABASE_POOLER=none would let statements be "
                "prepared on the server (faster on a direct connection)"
            )
        ]
    return []


def _budget_findings(
    facts: ServerFacts, budget: Budget, limits: PoolerLimits | str | None
) -> list[Finding]:
    available = facts.available_connections
    if facts.pooler_in_front:
        return _pooler_budget_findings(budget, available, limits)
    if budget.total > available:
        return [
            problem(
                f"the connection budget ({budget.total}) exceeds the {available} connections "
                "the server allows ordinary roles: lower STOCKROOM_POOL_SIZE or the workers, "
                "or put PgBouncer in front"
            )
        ]
    return []


def _pooler_budget_findings(
    budget: Budget, available: int, limits: PoolerLimits | str | None
) -> list[Finding]:
    """Behind PgBouncer the budget meets its ``max_client_conn``, and its server connections
    (``default_pool_size``, per database and user: Stockroom is one pair) meet the server's."""
    if not isinstance(limits, PoolerLimits):
        keep = (
            f"{budget.total} client connections to the pooler: keep them within PgBouncer's "
            "max_client_conn, and its server connections (default_pool_size per database and "
            f"user) within {available}"
        )
        if limits is None:
            return [note(keep)]
        unread = f"its settings were not read ({limits}): name the user in its stats_users"
        return [note(f"{keep}; {unread} to have them checked")]
    found = []
    if budget.total > limits.max_client_conn:
        found.append(
            problem(
                f"the connection budget ({budget.total}) exceeds PgBouncer's max_client_conn "
                f"({limits.max_client_conn}), which refuses the logins beyond it: raise it, or "
                "lower STOCKROOM_POOL_SIZE or the workers"
            )
        )
    if limits.default_pool_size > available:
        found.append(
            problem(
                f"PgBouncer's default_pool_size ({limits.default_pool_size}) exceeds the "
                f"{available} connections the server allows ordinary roles: lower it"
            )
        )
    return found


def _replica_findings(replica: ReplicaFacts, budget: Budget) -> list[Finding]:
    """An unreachable replica is a note: reads go to the primary meanwhile (readiness says
    "degraded"). One reached directly must hold its pools."""
    facts = replica.facts
    if isinstance(facts, str):
        return [note(f"{replica.name} unreachable ({facts}): the primary serves its reads")]
    if not facts.pooler_in_front and budget.each_replica > facts.available_connections:
        return [
            problem(
                f"{replica.name}: the connection budget ({budget.each_replica}) exceeds the "
                f"{facts.available_connections} connections it allows ordinary roles: raise "
                "its max_connections, lower STOCKROOM_POOL_SIZE or the workers, or put "
                "PgBouncer in front"
            )
        ]
    return []


def problem(text: str) -> Finding:
    return Finding(problem=True, text=text)


def note(text: str) -> Finding:
    return Finding(problem=False, text=text)
