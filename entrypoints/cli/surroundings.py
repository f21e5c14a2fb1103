"""What else holds connections for a deployment, for ``stockroom db check``: the PgBouncer in
front of the primary (its limits, or why they could not be read) and each replica (its facts,
or why it could not be reached)."""

from __future__ import annotations

import asyncio

from sqlalchemy.engine import make_url

from adapters import server_facts
from adapters.database import Database
from adapters.pool import PoolSettings
from adapters.pooler_limits import PoolerLimits, read_pooler_limits
from adapters.postgres import Pooler
from adapters.server_facts import ServerFacts
from entrypoints.cli.verdicts import Budget, ReplicaFacts
from entrypoints.settings import Settings

REPLICA_WITHIN_SECONDS = 10  # a replica that takes longer is reported, not waited on


async def surroundings(
    settings: Settings, facts: ServerFacts
) -> tuple[PoolerLimits | str | None, list[ReplicaFacts]]:
    """What else holds connections for us: the pooler in front (its limits, or why they could
    not be read) and each replica (its facts, or why it could not be reached)."""
    url = make_url(settings.database_url)
    limits = await read_pooler_limits(url) if facts.pooler_in_front else None
    replicas = [
        ReplicaFacts(f"replica {n}", await replica_facts(replica_url))
        for n, replica_url in enumerate(settings.replica_urls, start=1)
    ]
    return limits, replicas


async def replica_facts(url: str) -> ServerFacts | str:
    probe = Database(url, pooler=Pooler.TRANSACTION, pool=PoolSettings(size=2))
    try:
        async with asyncio.timeout(REPLICA_WITHIN_SECONDS):
            return await server_facts.gather(probe)
    except TimeoutError:
        return f"no answer in {REPLICA_WITHIN_SECONDS} s"
    except Exception as error:  # whatever it was: reported, and the check goes on
        return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    finally:
        await probe.dispose()


def surroundings_rows(
    limits: PoolerLimits | str | None, replicas: list[ReplicaFacts], budget: Budget
) -> list[tuple[str, str]]:
    rows = []
    if isinstance(limits, PoolerLimits):
        pool = f"default_pool_size {limits.default_pool_size}"
        rows.append(("pooler limits", f"max_client_conn {limits.max_client_conn}, {pool}"))
    elif limits is not None:
        rows.append(("pooler limits", f"not read: {limits}"))
    for replica in replicas:
        found = replica.facts
        if isinstance(found, str):
            rows.append((replica.name, f"unreachable: {found}"))
        else:
            available = f"{found.available_connections} connections for ordinary roles"
            rows.append((replica.name, f"PostgreSQL {found.version}, {available}"))
    if replicas:
        pools = f"(pool {budget.pool_size} + overflow {budget.max_overflow})"
        rows.append(("replica budget", f"{budget.each_replica} on each, same workers x {pools}"))
    return rows
